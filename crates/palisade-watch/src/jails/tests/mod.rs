//! Each built-in jail against a table of lines we wrote, in the formats the daemons write
//! (lines that are failures, with the address they must accuse; lines that are not; lines
//! a client crafted), connections told over several lines, and hostile fields generated
//! at random through every jail ([`hostile`]).

mod ftp_db;
mod googlebot;
mod hostile;
mod mail;
mod ssh;
mod web;

use std::net::IpAddr;
use std::sync::{Arc, OnceLock};

use crate::jail_matcher::{JailMatcher, Rules};
use crate::jails::{builtin, builtin_modes};
use crate::model::JailFilter;

/// The rules of jail `name` in `mode`, compiled once for all tests.
pub(super) fn rules(name: &str, mode: &str) -> Arc<Rules> {
    static ALL: OnceLock<Vec<(String, Arc<Rules>)>> = OnceLock::new();
    let all = ALL.get_or_init(|| {
        let mut out = Vec::new();
        for n in crate::builtin_names() {
            for m in builtin_modes(n).unwrap() {
                let b = builtin(n, m).unwrap();
                out.push((
                    format!("{n}[{m}]"),
                    Arc::new(Rules::builtin(&b, &[]).unwrap()),
                ));
            }
        }
        out
    });
    let key = format!("{name}[{mode}]");
    all.iter()
        .find(|(k, _)| *k == key)
        .unwrap_or_else(|| panic!("no jail {key}"))
        .1
        .clone()
}

pub(super) fn matcher(name: &str, mode: &str) -> JailMatcher {
    JailMatcher::new(&JailFilter::Rules(rules(name, mode)))
}

/// Each line on its own (a fresh matcher) accuses exactly the expected address, or
/// nobody.
pub(super) fn check(name: &str, mode: &str, cases: &[(String, Option<&str>)]) {
    for (line, want) in cases {
        let want: Vec<IpAddr> = want.iter().map(|w| w.parse().unwrap()).collect();
        let got = matcher(name, mode).feed(line.as_bytes(), 1000);
        assert_eq!(got, want, "{name}[{mode}]: {line}");
    }
}

/// Lines fed in order to one matcher; after each, the addresses it must accuse.
pub(super) fn sequence(name: &str, mode: &str, lines: &[(String, &[&str])]) {
    let mut m = matcher(name, mode);
    for (i, (line, want)) in lines.iter().enumerate() {
        let want: Vec<IpAddr> = want.iter().map(|w| w.parse().unwrap()).collect();
        let got = m.feed(line.as_bytes(), 1000 + i as u64);
        assert_eq!(got, want, "{name}[{mode}], line {}: {line}", i + 1);
    }
}

/// `format!` over a list of `(line, host)` pairs, to keep the tables short.
macro_rules! lines {
    ($(($line:expr, $host:expr)),* $(,)?) => {
        [$(($line.to_string(), $host)),*]
    };
}
pub(super) use lines;
