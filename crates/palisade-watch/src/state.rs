//! What of the [`Tracker`] survives a restart: active bans with their end, how often
//! each target was banned (so a repeat offender's next ban is still longer after a
//! reboot), and when (the recidive history). Failure windows do not: they are minutes
//! long and rebuilt from the logs. A permanent ban is saved with the end `u64::MAX`.
//!
//! The format is JSON, one object with a version, sorted so that the same state always
//! saves to the same text. Loading never panics: anything malformed is an error naming
//! what is wrong, and the daemon decides whether to start without the old state.

use palisade_core::{parse_addr_range, AddrRange};
use serde::{Deserialize, Serialize};

use crate::tracker::{Ban, Offender, Tracker, OFFENDER_MEMORY};

const VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Saved {
    version: u32,
    bans: Vec<SavedBan>,
    offenders: Vec<SavedOffender>,
    /// Absent in states saved before recidive existed.
    #[serde(default)]
    history: Vec<SavedHistory>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SavedHistory {
    target: String,
    bans: Vec<u64>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SavedBan {
    jail: String,
    target: String,
    since: u64,
    until: u64,
    count: u32,
    reason: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SavedOffender {
    jail: String,
    target: String,
    count: u32,
    last_until: u64,
}

impl Tracker {
    /// State that survives restarts: active bans (with until) and per-target ban counts
    /// for repeat offenders. JSON; [`Tracker::load`] reads it back exactly.
    pub fn save(&self) -> String {
        let mut bans: Vec<SavedBan> = self
            .jails
            .values()
            .flat_map(|s| s.bans.values())
            .map(|b| SavedBan {
                jail: b.jail.clone(),
                target: b.target.to_string(),
                since: b.since,
                until: b.until,
                count: b.count,
                reason: b.reason.clone(),
            })
            .collect();
        bans.sort_by(|a, b| (a.since, &a.jail, &a.target).cmp(&(b.since, &b.jail, &b.target)));
        let mut offenders: Vec<SavedOffender> = self
            .jails
            .iter()
            .flat_map(|(jail, s)| {
                s.offenders.iter().map(move |(t, o)| SavedOffender {
                    jail: jail.clone(),
                    target: t.to_string(),
                    count: o.count,
                    last_until: o.last_until,
                })
            })
            .collect();
        offenders.sort_by(|a, b| (&a.jail, &a.target).cmp(&(&b.jail, &b.target)));
        let mut history: Vec<SavedHistory> = self
            .history
            .iter()
            .map(|(t, h)| SavedHistory {
                target: t.to_string(),
                bans: h.iter().copied().collect(),
            })
            .collect();
        history.sort_by(|a, b| a.target.cmp(&b.target));
        let saved = Saved {
            version: VERSION,
            bans,
            offenders,
            history,
        };
        // Serializing plain structs of strings and integers cannot fail.
        serde_json::to_string_pretty(&saved).unwrap_or_default() + "\n"
    }

    /// Read what [`Tracker::save`] wrote. Bans that ended by `now` and offender counts
    /// past their memory are dropped; malformed text is an error, never a panic.
    pub fn load(text: &str, now: u64) -> Result<Self, String> {
        let saved: Saved =
            serde_json::from_str(text).map_err(|e| format!("ban state is not valid: {e}"))?;
        if saved.version != VERSION {
            return Err(format!(
                "ban state has version {}, this palisade reads version {VERSION}",
                saved.version
            ));
        }
        let mut tracker = Tracker::new();
        for (i, b) in saved.bans.into_iter().enumerate() {
            let what = format!("ban {}", i + 1);
            let target = read_target(&what, &b.jail, &b.target)?;
            if b.until < b.since || b.count == 0 {
                return Err(format!(
                    "{what} ({}): ends before it starts or has count 0",
                    b.target
                ));
            }
            if b.until <= now {
                continue;
            }
            let ban = Ban {
                jail: b.jail,
                target,
                since: b.since,
                until: b.until,
                count: b.count,
                reason: b.reason,
            };
            tracker
                .jails
                .entry(ban.jail.clone())
                .or_default()
                .bans
                .insert(target, ban);
        }
        for (i, o) in saved.offenders.into_iter().enumerate() {
            let target = read_target(&format!("offender {}", i + 1), &o.jail, &o.target)?;
            if o.last_until.saturating_add(OFFENDER_MEMORY) <= now {
                continue;
            }
            tracker.jails.entry(o.jail).or_default().offenders.insert(
                target,
                Offender {
                    count: o.count,
                    last_until: o.last_until,
                },
            );
        }
        for (i, h) in saved.history.into_iter().enumerate() {
            let target = read_target(&format!("history {}", i + 1), "-", &h.target)?;
            if !h.bans.is_empty() {
                tracker.history.insert(target, h.bans.into_iter().collect());
            }
        }
        Ok(tracker)
    }
}

fn read_target(what: &str, jail: &str, target: &str) -> Result<AddrRange, String> {
    if jail.is_empty() {
        return Err(format!("{what}: no jail name"));
    }
    parse_addr_range(target, false).map_err(|p| format!("{what}: `{target}`: {p}"))
}

#[cfg(test)]
mod tests;
