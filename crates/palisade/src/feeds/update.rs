//! One update of a set's feeds: fetch each URL, judge what came, keep good copies, and load
//! the set by difference when a copy changed.
//!
//! URLs are independent: a set with two feeds holds the union of both last good copies, so
//! one publisher being down (or serving an error page) keeps its part as it was while the
//! other's part follows its publisher. The set is loaded with [`Store::load`] (the diff
//! against what the kernel holds, in one transaction) from [`declared_contents`], so its files,
//! inline elements and countries stay in; under the namespace's lock, so an `apply` running
//! at the same moment is never half-overwritten.

use std::path::Path;

use anyhow::Result;
use palisade_core::policy::SetDecl;

use super::copies::{FeedResult, FeedState, SetCopies, UrlState};
use super::fetch::{Fetched, Fetcher};
use super::judge::judge;
use crate::lock::{self, Lock};
use crate::policy::config::{declared_contents, Compiled};
use crate::policy::records::now;
use crate::state::StateDir;
use crate::store::{Store, StoreError};

/// How one URL went.
#[derive(Clone, Debug)]
pub struct UrlOutcome {
    pub url: String,
    pub result: FeedResult,
    pub detail: String,
}

/// What happened to the set in the kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Loaded {
    /// No copy changed: the kernel was not touched.
    NotNeeded,
    Loaded {
        added: usize,
        removed: usize,
    },
    /// The set is not in the kernel (the policy declaring it is not applied): the copies
    /// go in with the next `apply`.
    NotInKernel,
}

/// One update of one set.
#[derive(Clone, Debug)]
pub struct SetUpdate {
    pub set: String,
    /// The worst of the URLs' results.
    pub result: FeedResult,
    pub urls: Vec<UrlOutcome>,
    pub loaded: Loaded,
}

/// What updates need besides the set: the config (for the set's other sources), the
/// namespace's state directory, and the HTTP client.
pub struct Updater<'a> {
    pub compiled: &'a Compiled,
    /// The config's directory: relative paths in it are taken from there.
    pub base: &'a Path,
    pub state: &'a StateDir,
    pub fetcher: &'a Fetcher,
}

impl Updater<'_> {
    /// Update one set with feeds; its outcome is logged and remembered for `feeds status`
    /// and the metrics.
    pub fn update(&self, store: &mut Store, decl: &SetDecl) -> Result<SetUpdate> {
        let feed = decl.feed.as_ref().expect("update() is for sets with feeds");
        let copies = SetCopies::new(&self.state.feeds(), &decl.name);
        let mut state = copies.state();
        copies.prune(&mut state, &feed.urls);
        let mut urls = Vec::new();
        let mut changed = false;
        for url in &feed.urls {
            let (outcome, new_copy) =
                self.fetch_one(&copies, &mut state, url, feed.max_shrink_percent)?;
            changed |= new_copy;
            log(&decl.name, &outcome, &state);
            urls.push(outcome);
        }
        let result = urls
            .iter()
            .map(|u| u.result)
            .min()
            .unwrap_or(FeedResult::Unchanged);
        let now = now();
        state.last_attempt = Some(now);
        state.last_result = Some(result);
        *state.results.entry(result).or_default() += 1;
        state.last_problem = urls
            .iter()
            .find(|u| u.result.is_problem())
            .map(|u| format!("{}: {}", u.url, u.detail));
        if !result.is_problem() {
            state.last_success = Some(now);
        }
        // The copies are kept whatever the kernel says next.
        copies.save_state(&state)?;
        let loaded = if changed {
            self.load_set(store, decl)?
        } else {
            Loaded::NotNeeded
        };
        Ok(SetUpdate {
            set: decl.name.clone(),
            result,
            urls,
            loaded,
        })
    }

    /// Fetch one URL and judge it; whether its copy changed.
    fn fetch_one(
        &self,
        copies: &SetCopies,
        state: &mut FeedState,
        url: &str,
        max_shrink: u8,
    ) -> Result<(UrlOutcome, bool)> {
        let previous = state.url(url).cloned();
        let copy = copies.copy_path(state, url);
        let validators = previous.as_ref().filter(|_| copy.is_some());
        let outcome = |result, detail: String| UrlOutcome {
            url: url.to_string(),
            result,
            detail,
        };
        let fetched = self.fetcher.get(
            url,
            validators.and_then(|p| p.etag.as_deref()),
            validators.and_then(|p| p.last_modified.as_deref()),
        );
        let (bytes, etag, last_modified, content_type) = match fetched {
            Err(e) => return Ok((outcome(FeedResult::Failed, e.to_string()), false)),
            Ok(Fetched::NotModified) => {
                let Some(p) = state
                    .urls
                    .iter_mut()
                    .find(|u| u.url == url)
                    .filter(|_| copy.is_some())
                else {
                    let detail = "answered 304 Not Modified to a request without validators".into();
                    return Ok((outcome(FeedResult::Failed, detail), false));
                };
                p.confirmed_at = now();
                return Ok((
                    outcome(FeedResult::Unchanged, "not modified (304)".into()),
                    false,
                ));
            }
            Ok(Fetched::Body {
                bytes,
                etag,
                last_modified,
                content_type,
            }) => (bytes, etag, last_modified, content_type),
        };
        let accepted = match judge(
            url,
            &bytes,
            content_type.as_deref(),
            previous
                .as_ref()
                .filter(|_| copy.is_some())
                .map(|p| p.entries),
            max_shrink,
        ) {
            Ok(a) => a,
            Err(refusal) => return Ok((outcome(FeedResult::Refused, refusal.to_string()), false)),
        };
        let same = copy
            .as_ref()
            .and_then(|p| std::fs::read(p).ok())
            .is_some_and(|old| old == bytes);
        let file = if same {
            previous
                .as_ref()
                .map(|p| p.file.clone())
                .unwrap_or_default()
        } else {
            copies.save_copy(url, &bytes)?
        };
        let entry = UrlState {
            url: url.to_string(),
            file,
            etag,
            last_modified,
            entries: accepted.entries,
            confirmed_at: now(),
        };
        match state.urls.iter_mut().find(|u| u.url == url) {
            Some(u) => *u = entry,
            None => state.urls.push(entry),
        }
        let skipped = match accepted.skipped {
            0 => String::new(),
            n => format!(
                "; {n} invalid lines skipped, first: {}",
                accepted.first_skipped.unwrap_or_default()
            ),
        };
        let (result, what) = if same {
            (FeedResult::Unchanged, "the same list again")
        } else {
            (FeedResult::Updated, "a new list")
        };
        Ok((
            outcome(
                result,
                format!("{what}, {} entries{skipped}", accepted.entries),
            ),
            !same,
        ))
    }

    /// Load the set's declared contents (files, elements, feed copies, countries) into the
    /// kernel, by difference, under the namespace's lock.
    pub fn load_set(&self, store: &mut Store, decl: &SetDecl) -> Result<Loaded> {
        let _lock = Lock::acquire(
            &self.state.lock(),
            &format!("feed update of set {}", decl.name),
            lock::WAIT,
        )?;
        let def = match store.get(&decl.name) {
            Ok(def) => def,
            Err(StoreError::NoSuchSet(_)) => return Ok(Loaded::NotInKernel),
            Err(e) => return Err(e.into()),
        };
        let contents = declared_contents(self.compiled, decl, self.base, self.state)?;
        let report = store.load(&def, &contents)?;
        Ok(Loaded::Loaded {
            added: report.added,
            removed: report.removed,
        })
    }
}

/// One line per URL for the journal; problems say what the set keeps instead.
fn log(set: &str, o: &UrlOutcome, state: &FeedState) {
    if !o.result.is_problem() {
        eprintln!(
            "palisade feeds: set {set}: {}: {}: {}",
            o.url,
            o.result.name(),
            o.detail
        );
        return;
    }
    let keeps = match state.url(&o.url) {
        Some(u) => format!(
            "the set keeps the last good copy ({} entries, confirmed {} s ago)",
            u.entries,
            now().saturating_sub(u.confirmed_at)
        ),
        None => "the set has no copy of this list yet".to_string(),
    };
    eprintln!(
        "palisade feeds: set {set}: {}: {}: {}; {keeps}",
        o.url,
        o.result.name().to_uppercase(),
        o.detail
    );
}
