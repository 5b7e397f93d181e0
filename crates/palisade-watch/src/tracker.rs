//! Counting failures and deciding bans.
//!
//! Per jail and per target (an address, or the IPv6 network around it when the jail bans
//! networks, so an attacker rotating through its /64 is counted as one), the tracker keeps
//! the times of the last `maxretry` failures, the active ban, and how often the target was
//! banned before (for longer bans of repeat offenders). Time comes in as seconds since the
//! epoch, so the same code replays a log file offline and runs live.
//!
//! Memory is bounded: a failure window holds at most `maxretry` timestamps and is dropped
//! once its newest failure is older than `findtime`; a jail tracks at most
//! [`MAX_TRACKED`] windows at once; offender counts are forgotten [`OFFENDER_MEMORY`]
//! after their last ban ended.
//!
//! Repeat offenders across jails ([`Recidive`]): every ban a jail makes joins the target's
//! ban history (whoever made it); when the history holds `bans` bans within `findtime`,
//! the ban becomes a recidive ban, on every port and `bantime` long, or permanent once the
//! history holds `permanent_after` bans. The history is palisade's own record, saved with
//! the bans, so it survives restarts and cannot be forged by writing to a log.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::Duration;

use palisade_core::{format_duration, AddrRange, Interval};

use crate::model::{Recidive, WatchConfig, PERMANENT, RECIDIVE};

/// How long a target's earlier bans still make its next ban longer, counted from the end
/// of its last ban.
pub const OFFENDER_MEMORY: u64 = 7 * 86400;

/// Most failure windows one jail keeps; past this, new sources are not counted until old
/// windows expire (a flood of one-off sources must not exhaust the daemon's memory).
pub const MAX_TRACKED: usize = 1_000_000;

/// A decision to block `target`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ban {
    pub jail: String,
    /// A single address, or an IPv6 network when the jail bans networks.
    pub target: AddrRange,
    /// Seconds since the epoch.
    pub since: u64,
    pub until: u64,
    /// This is the Nth ban of this target by this jail (within [`OFFENDER_MEMORY`]).
    pub count: u32,
    /// For `palisade bans`: `5 failures in 10m (sshd)`.
    pub reason: String,
}

/// How often a target was banned, and when its last ban ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Offender {
    pub count: u32,
    pub last_until: u64,
}

/// One jail's state, keyed by the jail's name so it survives config reordering.
#[derive(Clone, Debug, Default)]
pub(crate) struct JailState {
    /// Times of the latest failures, oldest first, at most `maxretry`.
    pub failures: HashMap<AddrRange, VecDeque<u64>>,
    pub bans: HashMap<AddrRange, Ban>,
    pub offenders: HashMap<AddrRange, Offender>,
    /// The jail's `findtime` when it last counted a failure, for [`Tracker::expire`].
    pub findtime: u64,
}

/// Failure counts and bans of all jails.
#[derive(Clone, Debug, Default)]
pub struct Tracker {
    pub(crate) jails: HashMap<String, JailState>,
    /// Per target, when it was banned (by any jail), oldest first: the recidive history.
    pub(crate) history: HashMap<AddrRange, VecDeque<u64>>,
}

impl Tracker {
    pub fn new() -> Self {
        Self::default()
    }

    /// One failure seen at `now` by `jail` (index into [`WatchConfig::jails`]) for `host`.
    /// Returns a ban when the host reaches maxretry failures within findtime (and is not
    /// allowlisted and not already banned by this jail until later than now). Ban duration
    /// = min(bantime * factor^(previous bans of this target in this jail), bantime_max).
    /// When the ban makes the target a repeat offender ([`WatchConfig::recidive`]), the
    /// recidive ban is returned instead: it covers the jail's ban (every port, at least as
    /// long), which is still recorded, so the jail does not ban again meanwhile.
    pub fn observe(
        &mut self,
        cfg: &WatchConfig,
        jail: usize,
        host: IpAddr,
        now: u64,
    ) -> Option<Ban> {
        let j = cfg.jails.get(jail)?;
        let host = unmap(host);
        if cfg.allow.contains(host) {
            return None;
        }
        let target = match (host, j.ban_v6_prefix) {
            (IpAddr::V6(a), Some(len)) => {
                let net = AddrRange::V6(Interval::from_prefix(u128::from(a), len)?);
                // The allowlist wins over the wider ban: if the network holds an allowed
                // address, only the offending address itself is banned.
                if cfg.allow.overlaps(net) {
                    AddrRange::from(host)
                } else {
                    net
                }
            }
            _ => AddrRange::from(host),
        };
        if self
            .jails
            .get(RECIDIVE)
            .and_then(|s| s.bans.get(&target))
            .is_some_and(|b| b.until > now)
        {
            return None;
        }
        let state = self.jails.entry(j.name.clone()).or_default();
        state.findtime = j.findtime;
        if state.bans.get(&target).is_some_and(|b| b.until > now) {
            return None;
        }
        let maxretry = j.maxretry.max(1) as usize;
        if !state.failures.contains_key(&target) && state.failures.len() >= MAX_TRACKED {
            state.expire_failures(now);
            if state.failures.len() >= MAX_TRACKED {
                return None;
            }
        }
        let window = state.failures.entry(target).or_default();
        window.push_back(now);
        window.retain(|&t| in_window(t, j.findtime, now));
        while window.len() > maxretry {
            window.pop_front();
        }
        if window.len() < maxretry {
            return None;
        }
        state.failures.remove(&target);

        let previous = match state.offenders.get(&target) {
            Some(o) if o.last_until.saturating_add(OFFENDER_MEMORY) > now => o.count,
            _ => 0,
        };
        let duration = ban_duration(j.bantime, j.bantime_factor, j.bantime_max, previous);
        let ban = Ban {
            jail: j.name.clone(),
            target,
            since: now,
            until: now.saturating_add(duration),
            count: previous.saturating_add(1),
            reason: format!(
                "{} failures in {} ({})",
                maxretry,
                format_duration(Duration::from_secs(j.findtime)),
                j.name
            ),
        };
        state.offenders.insert(
            target,
            Offender {
                count: ban.count,
                last_until: ban.until,
            },
        );
        state.bans.insert(target, ban.clone());
        if let Some(rc) = &cfg.recidive {
            if let Some(long) = self.recidive(rc, &ban) {
                return Some(long);
            }
        }
        Some(ban)
    }

    /// Record `ban` in its target's history; the recidive ban it makes, if any.
    fn recidive(&mut self, rc: &Recidive, ban: &Ban) -> Option<Ban> {
        let now = ban.since;
        let history = self.history.entry(ban.target).or_default();
        history.push_back(now);
        history.retain(|&t| in_window(t, rc.history, now));
        let keep = rc.bans.max(rc.permanent_after.unwrap_or(0)).max(1) as usize;
        while history.len() > keep {
            history.pop_front();
        }
        let recent = history
            .iter()
            .filter(|&&t| in_window(t, rc.findtime, now))
            .count();
        let permanent = rc
            .permanent_after
            .is_some_and(|p| history.len() >= p as usize);
        if recent < rc.bans as usize && !permanent {
            return None;
        }
        let (until, reason) = if permanent {
            (
                PERMANENT,
                format!(
                    "{} bans in {}: permanent ({RECIDIVE})",
                    history.len(),
                    format_duration(Duration::from_secs(rc.history))
                ),
            )
        } else {
            (
                now.saturating_add(rc.bantime).max(ban.until),
                format!(
                    "{recent} bans in {} ({RECIDIVE})",
                    format_duration(Duration::from_secs(rc.findtime))
                ),
            )
        };
        let count = history.len() as u32;
        let state = self.jails.entry(RECIDIVE.to_string()).or_default();
        if state
            .bans
            .get(&ban.target)
            .is_some_and(|b| b.until >= until)
        {
            return None;
        }
        let long = Ban {
            jail: RECIDIVE.to_string(),
            target: ban.target,
            since: now,
            until,
            count,
            reason,
        };
        state.offenders.insert(
            ban.target,
            Offender {
                count,
                last_until: until,
            },
        );
        state.bans.insert(ban.target, long.clone());
        Some(long)
    }

    /// Forget expired bans, stale failure windows and ban history past its memory
    /// (memory stays bounded under 100k+ attackers).
    pub fn expire(&mut self, cfg: &WatchConfig, now: u64) {
        let keep = cfg.recidive.as_ref().map_or(0, |rc| rc.history);
        self.history.retain(|_, h| {
            h.retain(|&t| in_window(t, keep, now));
            !h.is_empty()
        });
        for state in self.jails.values_mut() {
            state.bans.retain(|_, b| b.until > now);
            state
                .offenders
                .retain(|_, o| o.last_until.saturating_add(OFFENDER_MEMORY) > now);
            state.expire_failures(now);
        }
        self.jails
            .retain(|_, s| !(s.bans.is_empty() && s.offenders.is_empty() && s.failures.is_empty()));
    }

    /// Bans in force at `now`, oldest first.
    pub fn active_bans(&self, now: u64) -> Vec<Ban> {
        let mut out: Vec<Ban> = self
            .jails
            .values()
            .flat_map(|s| s.bans.values())
            .filter(|b| b.until > now)
            .cloned()
            .collect();
        out.sort_by(|a, b| (a.since, &a.jail, a.target).cmp(&(b.since, &b.jail, b.target)));
        out
    }

    /// Remove the bans whose target overlaps `target` (the address itself, the network
    /// around it, or the addresses inside a network given), in every jail, and return
    /// them. Their failure counts and offender history go too: an admin who unbans says
    /// the source is trusted.
    pub fn unban(&mut self, target: AddrRange) -> Vec<Ban> {
        let mut removed = Vec::new();
        for state in self.jails.values_mut() {
            let hit: Vec<AddrRange> = state
                .bans
                .keys()
                .filter(|t| overlap(**t, target))
                .copied()
                .collect();
            for t in hit {
                removed.extend(state.bans.remove(&t));
                state.offenders.remove(&t);
            }
            state.failures.retain(|t, _| !overlap(*t, target));
        }
        self.history.retain(|t, _| !overlap(*t, target));
        removed.sort_by(|a, b| (a.since, &a.jail, a.target).cmp(&(b.since, &b.jail, b.target)));
        removed
    }

    /// Number of failure windows being counted, over all jails (for metrics and tests).
    pub fn tracked(&self) -> usize {
        self.jails.values().map(|s| s.failures.len()).sum()
    }
}

impl JailState {
    fn expire_failures(&mut self, now: u64) {
        let findtime = self.findtime;
        self.failures
            .retain(|_, w| w.back().is_some_and(|&t| in_window(t, findtime, now)));
    }
}

/// Whether a failure at `t` still counts at `now`: less than `findtime` ago, and not in
/// the future (a clock that went back would otherwise pin it forever).
fn in_window(t: u64, findtime: u64, now: u64) -> bool {
    t <= now && t.saturating_add(findtime) > now
}

/// `bantime * factor^previous`, capped at `bantime_max`, in whole seconds.
pub fn ban_duration(bantime: u64, factor: f64, bantime_max: u64, previous: u32) -> u64 {
    let exponent = i32::try_from(previous).unwrap_or(i32::MAX);
    let scaled = bantime as f64 * factor.powi(exponent);
    // Written so that NaN, infinity and values past u64 all land on the cap.
    if scaled < bantime_max as f64 {
        (scaled as u64).min(bantime_max)
    } else {
        bantime_max
    }
}

/// An IPv4-mapped IPv6 address is its IPv4 host.
fn unmap(a: IpAddr) -> IpAddr {
    match a {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(a, IpAddr::V4),
        IpAddr::V4(_) => a,
    }
}

fn overlap(a: AddrRange, b: AddrRange) -> bool {
    match (a, b) {
        (AddrRange::V4(x), AddrRange::V4(y)) => x.first <= y.last && y.first <= x.last,
        (AddrRange::V6(x), AddrRange::V6(y)) => x.first <= y.last && y.first <= x.last,
        _ => false,
    }
}

#[cfg(test)]
mod tests;
