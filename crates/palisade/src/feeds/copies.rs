//! What the feed updater keeps on disk, per set: the last good copy of each URL's list, its
//! validators (`ETag`, `Last-Modified`), and how the updates went.
//!
//! ```text
//! STATE/feeds/NAME/state.json            validators, entries, results, times (FeedState)
//! STATE/feeds/NAME/<hash>-<basename>     the last good copy of one URL, as downloaded
//! ```
//!
//! The copies are what the set holds from its feeds at every `apply`, at boot (through the
//! saved state), and whenever a download fails: a set never loses its list because the
//! publisher was down. A copy is replaced only by a download that passed every check
//! ([`super::judge`]), written atomically before the state that names it. The file keeps the
//! URL's base name, so the list reader recognizes `.netset` and `.ipset` files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use palisade_core::policy::SetDecl;
use palisade_core::{Format, ParseOptions};
use serde::{Deserialize, Serialize};

use crate::state::write_atomic;

/// How one update of a set went, worst first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeedResult {
    /// A download failed (transport, HTTP status, timeout, size).
    Failed,
    /// A download arrived but was not a plausible list (see [`super::judge`]).
    Refused,
    /// A new list was taken.
    Updated,
    /// Every URL answered `304 Not Modified` (or the same list again).
    Unchanged,
}

impl FeedResult {
    pub const ALL: [FeedResult; 4] = [
        FeedResult::Failed,
        FeedResult::Refused,
        FeedResult::Updated,
        FeedResult::Unchanged,
    ];

    pub fn name(self) -> &'static str {
        match self {
            FeedResult::Failed => "failed",
            FeedResult::Refused => "refused",
            FeedResult::Updated => "updated",
            FeedResult::Unchanged => "unchanged",
        }
    }

    /// Only these keep the set from following its publisher.
    pub fn is_problem(self) -> bool {
        matches!(self, FeedResult::Failed | FeedResult::Refused)
    }
}

/// The last good copy of one URL.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UrlState {
    pub url: String,
    /// The copy's file name in the set's directory.
    pub file: String,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    /// Entries the copy holds (for the shrink check).
    pub entries: u64,
    /// Unix seconds the copy was last confirmed current (downloaded, or answered `304`).
    pub confirmed_at: u64,
}

/// Everything the updater remembers about one set's feeds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedState {
    pub urls: Vec<UrlState>,
    /// Unix seconds of the last update attempt, and of the last one without a problem.
    pub last_attempt: Option<u64>,
    pub last_success: Option<u64>,
    pub last_result: Option<FeedResult>,
    /// What went wrong last, for `feeds status` and the log.
    pub last_problem: Option<String>,
    /// Updates per result, since the state was created.
    pub results: BTreeMap<FeedResult, u64>,
}

impl FeedState {
    pub fn url(&self, url: &str) -> Option<&UrlState> {
        self.urls.iter().find(|u| u.url == url)
    }

    /// The oldest confirmation among the copies the set's URLs have: how stale the set's
    /// feed data may be. `None` while some URL has no copy at all.
    pub fn data_confirmed_at(&self, urls: &[String]) -> Option<u64> {
        urls.iter()
            .map(|u| self.url(u).map(|s| s.confirmed_at))
            .collect::<Option<Vec<u64>>>()?
            .into_iter()
            .min()
    }
}

/// The feed files of one set.
pub struct SetCopies {
    dir: PathBuf,
}

impl SetCopies {
    /// `feeds` is the namespace's feed directory ([`crate::state::StateDir::feeds`]).
    pub fn new(feeds: &Path, set: &str) -> Self {
        Self {
            dir: feeds.join(set),
        }
    }

    fn state_path(&self) -> PathBuf {
        self.dir.join("state.json")
    }

    /// The remembered state; a missing or damaged file is a fresh start (the copies are
    /// then fetched again).
    pub fn state(&self) -> FeedState {
        std::fs::read_to_string(self.state_path())
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default()
    }

    pub fn save_state(&self, state: &FeedState) -> Result<()> {
        Ok(write_atomic(
            &self.state_path(),
            serde_json::to_string_pretty(state)?.as_bytes(),
        )?)
    }

    /// Write a good download as the URL's copy; the file name to record.
    pub fn save_copy(&self, url: &str, bytes: &[u8]) -> Result<String> {
        let file = file_name(url);
        write_atomic(&self.dir.join(&file), bytes)?;
        Ok(file)
    }

    /// The copy of `url` the state names, if it is on disk.
    pub fn copy_path(&self, state: &FeedState, url: &str) -> Option<PathBuf> {
        let p = self.dir.join(&state.url(url)?.file);
        p.exists().then_some(p)
    }

    /// Remove copies of URLs the set no longer lists.
    pub fn prune(&self, state: &mut FeedState, urls: &[String]) {
        let (keep, gone): (Vec<UrlState>, Vec<UrlState>) = std::mem::take(&mut state.urls)
            .into_iter()
            .partition(|u| urls.contains(&u.url));
        for u in gone {
            let _ = std::fs::remove_file(self.dir.join(&u.file));
        }
        state.urls = keep;
    }
}

/// `<hash of the URL>-<last path segment>`: unique per URL (a stable hash, so a new palisade
/// finds its copies), and keeping the extension.
fn file_name(url: &str) -> String {
    let base: String = url
        .split(['?', '#'])
        .next()
        .unwrap_or_default()
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        .take(60)
        .collect();
    let base = base.trim_start_matches('.');
    format!(
        "{:016x}-{}",
        crate::policy::saved::fnv1a(url.as_bytes()),
        if base.is_empty() { "list" } else { base }
    )
}

/// The contents a set holds from its feeds: the union of the last good copies of its URLs
/// (nothing for a set without feeds, or URLs never fetched yet).
pub fn last_good(feeds: &Path, decl: &SetDecl) -> Result<palisade_core::Contents> {
    let Some(feed) = &decl.feed else {
        return Ok(Default::default());
    };
    let copies = SetCopies::new(feeds, &decl.name);
    let state = copies.state();
    let files: Vec<PathBuf> = feed
        .urls
        .iter()
        .filter_map(|u| copies.copy_path(&state, u))
        .collect();
    // The copies passed the checks when they were taken; a few invalid lines were skipped
    // then and are skipped again.
    let parsed =
        crate::lists::read_lists(&files, Format::Auto, ParseOptions::default(), true, false)
            .with_context(|| format!("set {}: the feeds' last good copies", decl.name))?;
    Ok(parsed.contents)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_names_keep_the_extension_and_differ_by_url() {
        let a = file_name("https://iplists.firehol.org/files/firehol_level1.netset");
        assert!(a.ends_with("-firehol_level1.netset"), "{a}");
        let b = file_name("https://mirror.example/files/firehol_level1.netset");
        assert_ne!(a, b);
        assert!(file_name("https://x.example/").ends_with("-list"));
        assert!(file_name("https://x.example/../../etc/passwd?x=/y").ends_with("-passwd"));
        assert!(!file_name("https://x.example/..").contains('/'));
    }

    #[test]
    fn the_oldest_copy_tells_the_data_age() {
        let mut s = FeedState::default();
        let urls = vec!["a".to_string(), "b".to_string()];
        assert_eq!(s.data_confirmed_at(&urls), None);
        for (url, at) in [("a", 100), ("b", 50)] {
            s.urls.push(UrlState {
                url: url.into(),
                confirmed_at: at,
                ..Default::default()
            });
        }
        assert_eq!(s.data_confirmed_at(&urls), Some(50));
    }
}
