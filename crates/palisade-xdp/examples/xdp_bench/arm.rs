//! The drop mechanisms compared, set up in a lab's host namespace, and their drop counters.

use palisade_core::AddrRange;
use palisade_xdp::{Capacity, DropSet, Entry, Mode, SetId, Xdp};

use crate::lab::{Lab, LISTED};

#[derive(Clone, Copy)]
pub enum Mechanism {
    /// palisade's program, with the flood source in a drop set.
    Xdp(Mode),
    /// `ip saddr @blocked counter drop` in a prerouting chain at raw priority (-300): before
    /// conntrack.
    NftRaw,
    /// The same rule in the input chain at filter priority: after conntrack and routing.
    NftInput,
}

impl Mechanism {
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Xdp(Mode::Native) => "XDP native (palisade)",
            Mechanism::Xdp(Mode::Generic) => "XDP generic (palisade)",
            Mechanism::Xdp(Mode::Auto) => "XDP (palisade)",
            Mechanism::NftRaw => "nftables prerouting, raw priority",
            Mechanism::NftInput => "nftables input chain",
        }
    }
}

/// A lab with one mechanism in place.
pub struct Armed {
    pub lab: Lab,
    xdp: Option<Xdp>,
    /// The id of palisade's program, when attached.
    pub program_id: Option<u32>,
    counts_xdp: bool,
}

/// Set up `m` in a fresh lab. With `xdp_passthrough`, palisade's program is attached (native,
/// with an empty set, so it passes everything) under the nftables mechanisms too: the
/// injection benchmark runs that program to feed frames into the stack.
pub fn arm(m: Mechanism, xdp_passthrough: bool) -> Result<Armed, String> {
    let lab = Lab::bare();
    let (mode, listed) = match m {
        Mechanism::Xdp(mode) => (Some(mode), true),
        _ if xdp_passthrough => (Some(Mode::Native), false),
        _ => (None, false),
    };
    let mut xdp = None;
    let mut program_id = None;
    if let Some(mode) = mode {
        let info = lab
            .in_host(|root, ifname| Xdp::attach(root, ifname, mode, Capacity::default()))
            .map_err(|e| e.to_string())?;
        program_id = Some(info.program_id);
        let mut x = lab
            .in_host(|root, _| Xdp::open(root))
            .map_err(|e| e.to_string())?
            .ok_or("no XDP state after attach")?;
        let entries = if listed {
            vec![Entry {
                range: AddrRange::from(LISTED.parse::<std::net::IpAddr>().unwrap()),
                expires: None,
            }]
        } else {
            Vec::new()
        };
        let set = DropSet {
            id: SetId(0),
            name: "flood".into(),
            entries,
        };
        x.sync(&[set], &[]).map_err(|e| e.to_string())?;
        xdp = Some(x);
    }
    let hook = match m {
        Mechanism::NftRaw => Some(("prerouting", -300)),
        Mechanism::NftInput => Some(("input", 0)),
        Mechanism::Xdp(_) => None,
    };
    if let Some((hook, priority)) = hook {
        let script = format!(
            "table inet bench {{\n set blocked {{ type ipv4_addr; flags interval; elements = {{ {LISTED} }}; }}\n \
             chain c {{ type filter hook {hook} priority {priority}; ip saddr @blocked counter drop; }}\n}}\n"
        );
        let path = lab.bpf.path.with_extension("nft");
        std::fs::write(&path, script).map_err(|e| e.to_string())?;
        let r = lab.host.output("nft", &["-f", path.to_str().unwrap()]);
        let _ = std::fs::remove_file(&path);
        r.map_err(|e| e.to_string())?;
    }
    Ok(Armed {
        lab,
        xdp,
        program_id,
        counts_xdp: matches!(m, Mechanism::Xdp(_)),
    })
}

impl Armed {
    /// Packets the mechanism dropped so far.
    pub fn dropped(&self) -> Result<u64, String> {
        if self.counts_xdp {
            let x = self.xdp.as_ref().expect("XDP mechanisms hold their state");
            return Ok(x
                .counters()
                .map_err(|e| e.to_string())?
                .dropped_by(SetId(0))
                .packets);
        }
        let text = self
            .lab
            .host
            .output("nft", &["list", "chain", "inet", "bench", "c"])
            .map_err(|e| e.to_string())?;
        let at = text
            .find("counter packets ")
            .ok_or_else(|| format!("no counter in:\n{text}"))?;
        text[at + "counter packets ".len()..]
            .split_whitespace()
            .next()
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| format!("unreadable counter in:\n{text}"))
    }

    /// One Ethernet/IPv4/UDP frame of 60 bytes from the listed source to the host.
    pub fn frame(&self) -> Vec<u8> {
        palisade_lab::inject::udp_frame(
            &self.lab.host_mac,
            &self.lab.client_mac,
            LISTED.parse().unwrap(),
            crate::lab::SERVER_V4.parse().unwrap(),
        )
    }
}
