//! `[watch]` and `[jails.NAME]` in palisade.toml, validated into a [`WatchConfig`].
//!
//! The tables live in the same file as the firewall policy, which `palisade-core` reads
//! (and where it only checks that they are tables); this module reads them from the same
//! text. As there, every error names the file, the line and the key
//! (`palisade.toml:14: jails.sshd.patterns[1]: jail "sshd": ...`), and values are read as
//! TOML values and interpreted here, so messages say what is wrong rather than which serde
//! variant did not fit. A fail2ban filter that does not load is an error naming the
//! filter file, its line and the construct ([`palisade_f2b::FilterError`]).

mod jail;
mod values;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use palisade_core::policy::{ConfigError, Services};
use palisade_core::{is_valid_name, parse_addr_range, ConfigText, NAME_RULE};
use palisade_f2b::{DirSource, FilterSource};
use serde::Deserialize;
use toml::{Spanned, Value};

use jail::{read_jail, RawJail};
pub use jail::{DEFAULT_BANTIME, DEFAULT_BANTIME_MAX, DEFAULT_FINDTIME, DEFAULT_MAXRETRY};
use values::{read_count, read_positive_seconds};

use crate::allowlist::Allowlist;
use crate::model::{JournalLocation, Recidive, WatchConfig};

pub const DEFAULT_SET: &str = "bans";

/// Where `filter = "NAME"` is looked up: the directory's filter files. The daemon reads
/// the file system ([`DirSource`]); tests hand in files held in memory.
pub type FilterFiles<'a> = &'a dyn Fn(&Path) -> Box<dyn FilterSource>;

/// Filter files from the file system.
pub fn filter_files_on_disk(dir: &Path) -> Box<dyn FilterSource> {
    Box::new(DirSource::new(dir))
}

/// Recidive defaults: 5 bans in a day make a week's ban; bans are remembered 30 days.
pub const DEFAULT_RECIDIVE_FINDTIME: u64 = 86400;
pub const DEFAULT_RECIDIVE_BANTIME: u64 = 7 * 86400;
pub const DEFAULT_RECIDIVE_HISTORY: u64 = 30 * 86400;

#[derive(Deserialize)]
struct RawFile {
    watch: Option<Spanned<RawWatch>>,
    #[serde(default)]
    jails: BTreeMap<String, Spanned<RawJail>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWatch {
    #[serde(default)]
    allow: Vec<Spanned<String>>,
    set: Option<Spanned<String>>,
    filter_dir: Option<Spanned<String>>,
    journal_directory: Option<Spanned<String>>,
    journal_files: Option<Spanned<Vec<String>>>,
    recidive: Option<Spanned<RawRecidive>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRecidive {
    bans: Spanned<i64>,
    findtime: Option<Spanned<Value>>,
    bantime: Option<Spanned<Value>>,
    permanent_after: Option<Spanned<i64>>,
    history: Option<Spanned<Value>>,
}

type Reader<'a> = ConfigText<'a>;

/// Parse `[watch]` and `[jails.*]` from the config text; errors name file, line, key
/// (`jails.sshd.patterns[1]`) and, for regexes, the jail name and the regex error.
/// `filters` opens the directory fail2ban filters are read from.
pub fn parse_watch_config(
    file: &str,
    text: &str,
    services: &Services,
    filters: FilterFiles<'_>,
) -> Result<WatchConfig, ConfigError> {
    let r = ConfigText::new(file, text);
    let raw: RawFile = r.parse()?;

    let mut allow = Allowlist::new(Vec::new());
    let mut set = DEFAULT_SET.to_string();
    let mut filter_dir = PathBuf::from(DirSource::FAIL2BAN_FILTER_DIR);
    let mut journal = JournalLocation::System;
    let mut recidive = None;
    if let Some(w) = &raw.watch {
        let w = w.get_ref();
        for (i, a) in w.allow.iter().enumerate() {
            let net = parse_addr_range(a.get_ref(), false)
                .map_err(|p| r.error(a.span(), &format!("watch.allow[{i}]"), p.to_string()))?;
            allow.add(net);
        }
        if let Some(s) = &w.set {
            if !is_valid_name(s.get_ref()) {
                return Err(r.error(s.span(), "watch.set", format!("a set name is {NAME_RULE}")));
            }
            set = s.get_ref().clone();
        }
        if let Some(d) = &w.filter_dir {
            filter_dir = absolute(&r, d, "watch.filter_dir")?;
        }
        journal = match (&w.journal_directory, &w.journal_files) {
            (Some(d), Some(_)) => {
                return Err(r.error(
                    d.span(),
                    "watch.journal_directory",
                    "give journal_directory or journal_files, not both",
                ))
            }
            (Some(d), None) => {
                JournalLocation::Directory(absolute(&r, d, "watch.journal_directory")?)
            }
            (None, Some(f)) => {
                let files: Vec<PathBuf> = f.get_ref().iter().map(PathBuf::from).collect();
                if files.is_empty() || files.iter().any(|p| !p.is_absolute()) {
                    return Err(r.error(
                        f.span(),
                        "watch.journal_files",
                        "expected absolute paths of journal files",
                    ));
                }
                JournalLocation::Files(files)
            }
            (None, None) => JournalLocation::System,
        };
        if let Some(rc) = &w.recidive {
            recidive = Some(read_recidive(&r, rc)?);
        }
    }

    // File order, so messages and `palisade bans` list jails as the admin wrote them.
    let mut raw_jails: Vec<_> = raw.jails.iter().collect();
    raw_jails.sort_by_key(|(_, j)| j.span().start);
    let mut jails = Vec::new();
    for (name, j) in raw_jails {
        let jail = read_jail(&r, name, j, services, &filter_dir, filters)?;
        if j.get_ref().enabled.unwrap_or(true) {
            jails.push(jail);
        }
    }
    Ok(WatchConfig {
        jails,
        allow,
        set,
        journal,
        recidive,
    })
}

fn absolute(r: &Reader<'_>, v: &Spanned<String>, key: &str) -> Result<PathBuf, ConfigError> {
    let p = PathBuf::from(v.get_ref());
    if p.is_absolute() {
        Ok(p)
    } else {
        Err(r.error(v.span(), key, "expected an absolute path"))
    }
}

fn read_recidive(r: &Reader<'_>, rc: &Spanned<RawRecidive>) -> Result<Recidive, ConfigError> {
    let at = rc.span();
    let rc = rc.get_ref();
    let bans = read_count(r, &rc.bans, "watch.recidive.bans", 2..=1000, "bans")?;
    let findtime = read_positive_seconds(
        r,
        rc.findtime.as_ref(),
        "watch.recidive.findtime",
        DEFAULT_RECIDIVE_FINDTIME,
        at.clone(),
    )?;
    let bantime = read_positive_seconds(
        r,
        rc.bantime.as_ref(),
        "watch.recidive.bantime",
        DEFAULT_RECIDIVE_BANTIME,
        at.clone(),
    )?;
    let history = read_positive_seconds(
        r,
        rc.history.as_ref(),
        "watch.recidive.history",
        DEFAULT_RECIDIVE_HISTORY.max(findtime),
        at.clone(),
    )?;
    let permanent_after = match &rc.permanent_after {
        None => None,
        Some(p) => {
            let n = read_count(r, p, "watch.recidive.permanent_after", 2..=100_000, "bans")?;
            if n <= bans {
                return Err(r.error(
                    p.span(),
                    "watch.recidive.permanent_after",
                    format!("must be more than bans ({bans}): a permanent ban comes after recidive bans"),
                ));
            }
            Some(n)
        }
    };
    if history < findtime {
        return Err(r.error(
            rc.history.as_ref().map_or(at, |h| h.span()),
            "watch.recidive.history",
            "is shorter than findtime: bans would be forgotten before they are counted",
        ));
    }
    Ok(Recidive {
        bans,
        findtime,
        bantime,
        permanent_after,
        history,
    })
}

#[cfg(test)]
mod tests;

/// What other modules' tests share.
#[cfg(test)]
pub(crate) mod tests_support {
    use super::*;

    /// No filter files at all.
    pub fn no_filter_files(_: &Path) -> Box<dyn FilterSource> {
        Box::new(palisade_f2b::MemorySource::new())
    }
}
