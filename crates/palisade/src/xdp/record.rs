//! Which interfaces palisade keeps its XDP program on, and what an apply changes. Pure.
//!
//! XDP state lives on bpffs, which a reboot empties: the kernel sets come back from the saved
//! state at boot, and `palisade xdp sync --attach` (run by `palisade-xdp-sync.timer` from boot
//! on) attaches the program again where this record says, then fills the maps. The record keeps
//! apart the interfaces the config's `[xdp]` lists (set by each apply) and those attached by
//! hand (`palisade xdp attach`): an apply detaches only what an earlier apply attached and the
//! config no longer lists, and leaves hand attachments alone, as it leaves sets made on the
//! command line alone. `palisade xdp detach` forgets an interface in both.

use palisade_core::policy::XdpMode;
use serde::{Deserialize, Serialize};

/// A mode as written in the record (and accepted on the command line).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModeName {
    #[default]
    Auto,
    Native,
    Generic,
}

impl From<XdpMode> for ModeName {
    fn from(m: XdpMode) -> Self {
        match m {
            XdpMode::Auto => ModeName::Auto,
            XdpMode::Native => ModeName::Native,
            XdpMode::Generic => ModeName::Generic,
        }
    }
}

impl From<ModeName> for palisade_xdp::Mode {
    fn from(m: ModeName) -> Self {
        match m {
            ModeName::Auto => palisade_xdp::Mode::Auto,
            ModeName::Native => palisade_xdp::Mode::Native,
            ModeName::Generic => palisade_xdp::Mode::Generic,
        }
    }
}

/// One interface palisade keeps XDP on, and how.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Wanted {
    pub interface: String,
    pub mode: ModeName,
}

/// The record, as kept in the namespace's state directory (`xdp.json`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// From the config's `[xdp]`, as of the last apply.
    #[serde(default)]
    pub applied: Vec<Wanted>,
    /// Attached with `palisade xdp attach`.
    #[serde(default)]
    pub manual: Vec<Wanted>,
}

impl Record {
    /// Read the record from its text; `file` names it in the error.
    pub fn parse(file: &str, text: &str) -> Result<Self, String> {
        serde_json::from_str(text).map_err(|e| {
            format!("{file}: {e}; remove the file (the next apply or `palisade xdp attach` writes it again)")
        })
    }

    pub fn to_text(&self) -> String {
        serde_json::to_string_pretty(self).expect("plain data serializes")
    }

    /// An apply whose config lists `config`: the interfaces to detach (listed by the previous
    /// apply, not by this one, not attached by hand), and the record afterwards.
    pub fn apply(&self, config: &[Wanted]) -> (Vec<String>, Record) {
        let listed = |list: &[Wanted], name: &str| list.iter().any(|w| w.interface == name);
        let detach = self
            .applied
            .iter()
            .filter(|w| !listed(config, &w.interface) && !listed(&self.manual, &w.interface))
            .map(|w| w.interface.clone())
            .collect();
        let next = Record {
            applied: config.to_vec(),
            manual: self.manual.clone(),
        };
        (detach, next)
    }

    /// `palisade xdp attach`: kept until detached by hand.
    pub fn attached_by_hand(&mut self, w: Wanted) {
        self.manual.retain(|m| m.interface != w.interface);
        self.manual.push(w);
    }

    /// `palisade xdp detach IFACE`: forgotten, until an apply lists it again.
    pub fn detached(&mut self, interface: &str) {
        self.applied.retain(|w| w.interface != interface);
        self.manual.retain(|w| w.interface != interface);
    }

    /// Every interface to keep XDP on: the config's, then those attached by hand (the config's
    /// mode wins for an interface in both).
    pub fn wanted(&self) -> Vec<Wanted> {
        let mut out = self.applied.clone();
        for m in &self.manual {
            if !out.iter().any(|w| w.interface == m.interface) {
                out.push(m.clone());
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(name: &str) -> Wanted {
        Wanted {
            interface: name.into(),
            mode: ModeName::Auto,
        }
    }

    #[test]
    fn an_apply_detaches_only_what_an_earlier_apply_attached() {
        let mut r = Record::default();
        r.attached_by_hand(w("eth9"));
        let (detach, r) = r.apply(&[w("eth0"), w("eth1")]);
        assert!(detach.is_empty());
        let (detach, r) = r.apply(&[w("eth1"), w("eth9")]);
        assert_eq!(detach, ["eth0"]);
        // eth9 is in the config now and attached by hand: leaving the config keeps it.
        let (detach, r) = r.apply(&[]);
        assert_eq!(detach, ["eth1"]);
        assert_eq!(r.wanted(), vec![w("eth9")]);
    }

    #[test]
    fn detaching_by_hand_forgets_both_and_the_record_round_trips() {
        let mut r = Record::default();
        r.attached_by_hand(w("eth0"));
        let (_, mut r) = r.apply(&[
            w("eth0"),
            Wanted {
                interface: "eth1".into(),
                mode: ModeName::Native,
            },
        ]);
        assert_eq!(r.wanted().len(), 2);
        assert_eq!(Record::parse("x", &r.to_text()).unwrap(), r);
        r.detached("eth0");
        assert_eq!(r.wanted().len(), 1);
        assert_eq!(r.wanted()[0].mode, ModeName::Native);
        let e = Record::parse("/var/lib/palisade/xdp.json", "{not json").unwrap_err();
        assert!(e.starts_with("/var/lib/palisade/xdp.json: "), "{e}");
    }
}
