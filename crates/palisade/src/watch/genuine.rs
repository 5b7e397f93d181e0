//! The genuine sets of jails that ban a claim (`genuine = "SET"`): a client whose user agent
//! says Googlebot is counted by `apache-fakegooglebot` only if its address is not in the set
//! of Google's real networks (loaded from Google's published list, by a feed).
//!
//! The check is a kernel lookup per hit, made by the daemon, not the pure matcher: such hits
//! are rare (a crawler's requests, real or not), the set follows its feed without the daemon
//! reloading anything, and the lookup costs one netlink round trip. A set that is missing or
//! cannot be asked counts as holding the address: banning the real crawler (a site that
//! drops out of a search engine) is worse than letting a fake one through until the set is
//! back; the daemon says so once per set.

use std::collections::HashSet;
use std::net::IpAddr;

use palisade_core::AddrRange;
use palisade_watch::WatchConfig;

use crate::store::Store;

/// The daemon's memory of which genuine sets it already warned about.
#[derive(Default)]
pub struct GenuineSets {
    warned: HashSet<String>,
}

impl GenuineSets {
    /// Whether `host`'s hit in jail `jail` is from the jail's genuine set, so not counted.
    /// `false` for a jail without one.
    pub fn holds(
        &mut self,
        store: &mut Store,
        cfg: &WatchConfig,
        jail: usize,
        host: IpAddr,
    ) -> bool {
        let Some(set) = cfg.jails.get(jail).and_then(|j| j.genuine.as_deref()) else {
            return false;
        };
        let answer = store
            .get(set)
            .and_then(|def| store.test(&def, AddrRange::from(host), None));
        match answer {
            Ok(held) => {
                self.warned.remove(set);
                held
            }
            Err(e) => {
                if self.warned.insert(set.to_string()) {
                    eprintln!(
                        "palisade watch: jail {}: cannot look {host} up in its genuine set {set} \
                         ({e}); hits are not counted until the set is there (load it: \
                         `palisade set load {set} FILE`, or a feed in [sets.{set}])",
                        cfg.jails[jail].name
                    );
                }
                true
            }
        }
    }
}

/// Warnings for `palisade check`: jails whose genuine set neither the config declares nor
/// the kernel holds (`exists` answers for both).
pub fn missing_set_warnings(cfg: &WatchConfig, exists: impl Fn(&str) -> bool) -> Vec<String> {
    cfg.jails
        .iter()
        .filter_map(|j| j.genuine.as_deref().map(|set| (j, set)))
        .filter(|(_, set)| !exists(set))
        .map(|(j, set)| {
            format!(
                "jail {}: its genuine set \"{set}\" does not exist (not in this config, not in \
                 the kernel): the daemon counts no hit of this jail until it does; declare it, \
                 e.g. [sets.{set}] action = \"none\" (a set that drops would block the real \
                 crawler), urls = [\"https://developers.google.com/static/search/apis/ipranges/googlebot.json\"], \
                 every = \"24h\"; or `palisade set create {set}` and `palisade set load {set} FILE`",
                j.name
            )
        })
        .collect()
}
