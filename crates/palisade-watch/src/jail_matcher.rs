//! Lines of one source, in order, to the addresses they accuse.
//!
//! A reader thread owns one [`JailMatcher`] per jail reading its source: matching is
//! stateful, because daemons tell one failure over several lines. sshd names the
//! connection by its process id (`Connection from A` ... `Disconnecting: Too many
//! authentication failures`), Postfix by the queue id (`client=name[A]` ... a bounce),
//! and fail2ban's filters keep the last `maxlines` lines and their `<F-MLFID>` ids. The
//! stateless part, shared by every reader, is the jail's [`Rules`] (or its fail2ban
//! [`palisade_f2b::Filter`]).

use std::net::IpAddr;
use std::sync::Arc;

use regex_automata::{meta, Anchored, Input};

use crate::jails::{Builtin, Kind, SessionSpec};
use crate::matcher::{Found, Matcher, PatternError};
use crate::model::JailFilter;
use crate::sessions::{Each, Sessions};

/// A jail's rules: the patterns, what each means, and how to tell a line's connection.
#[derive(Clone, Debug)]
pub struct Rules {
    matcher: Matcher,
    kinds: Vec<Kind>,
    /// How a line names its connection (see [`SessionSpec`]).
    session: Option<SessionKey>,
    /// Rules that only end connections: nothing to do while no connection is followed.
    ends: u128,
}

#[derive(Clone, Debug)]
struct SessionKey {
    skip: meta::Regex,
    key: meta::Regex,
}

impl SessionKey {
    fn new(spec: &SessionSpec) -> Result<Self, String> {
        let build = |re: &str| {
            crate::matcher::split::dfa_regex(re)
                .ok_or_else(|| format!("session: cannot compile `{re}`"))
        };
        Ok(Self {
            skip: build(&spec.skip)?,
            key: build(&spec.key)?,
        })
    }

    /// The connection's name in `line`, if its prefix has one.
    fn of<'l>(&self, line: &'l [u8]) -> Option<&'l [u8]> {
        let start = self
            .skip
            .search_half(&Input::new(line).anchored(Anchored::Yes))?
            .offset();
        let end = self
            .key
            .search_half(&Input::new(line).range(start..).anchored(Anchored::Yes))?
            .offset();
        Some(&line[start..end])
    }
}

impl Rules {
    /// A built-in jail's rules, with the admin's `ignore` patterns added to its own.
    pub(crate) fn builtin(b: &Builtin, ignore: &[String]) -> Result<Self, PatternError> {
        let patterns: Vec<String> = b.rules.iter().map(|r| r.pattern.clone()).collect();
        let mut all_ignore = b.ignore.clone();
        all_ignore.extend_from_slice(ignore);
        let matcher = Matcher::compile(&patterns, &all_ignore, true).map_err(|mut e| {
            // The admin's ignore patterns count from the first of theirs.
            if e.ignore {
                e.index = e.index.saturating_sub(b.ignore.len());
            }
            e
        })?;
        let session = match &b.session {
            Some(s) => Some(SessionKey::new(s).map_err(|message| PatternError {
                ignore: false,
                index: 0,
                message,
            })?),
            None => None,
        };
        let ends = b
            .rules
            .iter()
            .enumerate()
            .filter(|(i, r)| *i < 128 && r.kind == Kind::End)
            .fold(0u128, |m, (i, _)| m | 1 << i);
        Ok(Self {
            matcher: matcher.with_lean_view(!ends),
            kinds: b.rules.iter().map(|r| r.kind).collect(),
            session,
            ends,
        })
    }

    /// An admin's patterns: every match is a failure of its `<HOST>`.
    pub(crate) fn custom(patterns: &[String], ignore: &[String]) -> Result<Self, PatternError> {
        Ok(Self {
            matcher: Matcher::compile(patterns, ignore, false)?,
            kinds: vec![Kind::Failure; patterns.len()],
            session: None,
            ends: 0,
        })
    }

    /// The patterns as written.
    pub fn patterns(&self) -> &[String] {
        self.matcher.patterns()
    }

    /// The stateless matcher (what one line says on its own).
    pub fn matcher(&self) -> &Matcher {
        &self.matcher
    }
}

/// A journal entry, with the fields the jails need.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JournalEntry {
    pub message: Vec<u8>,
    /// `_SYSTEMD_UNIT`.
    pub unit: Option<String>,
    /// `SYSLOG_IDENTIFIER`, else `_COMM`.
    pub identifier: Option<String>,
    /// `SYSLOG_PID`, else `_PID`.
    pub pid: Option<String>,
    /// `_HOSTNAME`.
    pub hostname: Option<String>,
}

/// One jail's matching state for one source.
#[derive(Debug)]
pub struct JailMatcher {
    inner: Inner,
}

#[derive(Debug)]
enum Inner {
    Rules {
        rules: Arc<Rules>,
        sessions: Sessions,
    },
    Fail2ban(Box<palisade_f2b::FilterMatcher>),
}

impl JailMatcher {
    pub(crate) fn new(filter: &JailFilter) -> Self {
        let inner = match filter {
            JailFilter::Rules(rules) => Inner::Rules {
                rules: rules.clone(),
                sessions: Sessions::default(),
            },
            JailFilter::Fail2ban(f) => Inner::Fail2ban(Box::new(f.matcher())),
        };
        Self { inner }
    }

    /// Takes the next line of the source (read at `now`, Unix seconds); returns the
    /// failures it completes, one address per failure (usually none or one; several when
    /// the line ends a connection whose failures waited for it). Never panics.
    pub fn feed(&mut self, line: &[u8], now: u64) -> Vec<IpAddr> {
        let mut out = Vec::new();
        self.feed_each(line, now, &mut |h| out.push(h));
        out
    }

    /// [`JailMatcher::feed`] without a list: `each` is called once per failure (the
    /// reader threads' way, which allocates nothing per line).
    pub fn feed_each(&mut self, line: &[u8], now: u64, each: Each<'_>) {
        match &mut self.inner {
            Inner::Fail2ban(m) => {
                if let Some(f) = m.feed_at(line, now) {
                    each(f.host);
                }
            }
            Inner::Rules { rules, sessions } => {
                let allowed = if sessions.is_empty() {
                    !rules.ends
                } else {
                    u128::MAX
                };
                let Some(found) = rules.matcher.find_among(line, allowed) else {
                    return;
                };
                let (rule, host) = match found {
                    Found::Ambiguous { .. } => return,
                    Found::Host { rule, host } => (rule, Some(host)),
                    Found::Hostless { rule } => (rule, None),
                };
                let kind = rules.kinds[rule];
                let fails = matches!(kind, Kind::Failure | Kind::FailureEnd);
                if fails && sessions.is_empty() {
                    // Nothing followed could change or use this failure.
                    host.into_iter().for_each(each);
                    return;
                }
                match rules.session.as_ref().and_then(|s| s.of(line)) {
                    Some(key) => sessions.apply(key, kind, host, now, each),
                    None if fails => host.into_iter().for_each(each),
                    None => {}
                }
            }
        }
    }

    /// A journal entry, as the jail reads it: `IDENT[PID]: MESSAGE` for palisade's rules
    /// (the form their prefixes know), `HOST IDENT[PID]: MESSAGE` for a fail2ban filter
    /// (what fail2ban's systemd backend hands its filters).
    pub fn feed_journal(&mut self, entry: &JournalEntry, now: u64) -> Vec<IpAddr> {
        let line = self.journal_line(entry);
        self.feed(&line, now)
    }

    fn journal_line(&self, entry: &JournalEntry) -> Vec<u8> {
        let ident = entry.identifier.as_deref().unwrap_or("-");
        let mut line = Vec::with_capacity(entry.message.len() + 64);
        if matches!(self.inner, Inner::Fail2ban(_)) {
            line.extend_from_slice(entry.hostname.as_deref().unwrap_or("-").as_bytes());
            line.push(b' ');
        }
        line.extend_from_slice(ident.as_bytes());
        if let Some(pid) = &entry.pid {
            line.push(b'[');
            line.extend_from_slice(pid.as_bytes());
            line.push(b']');
        }
        line.extend_from_slice(b": ");
        line.extend_from_slice(&entry.message);
        line
    }

    /// [`JailMatcher::feed_journal`] with a callback, as [`JailMatcher::feed_each`].
    pub fn feed_journal_each(&mut self, entry: &JournalEntry, now: u64, each: Each<'_>) {
        let line = self.journal_line(entry);
        self.feed_each(&line, now, each);
    }
}
