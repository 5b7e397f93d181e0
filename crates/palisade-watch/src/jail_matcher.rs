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

use regex::bytes::Regex;

use crate::jails::{Builtin, Kind};
use crate::matcher::{Found, Matcher, PatternError};
use crate::model::JailFilter;
use crate::sessions::Sessions;

/// A jail's rules: the patterns, what each means, and how to tell a line's connection.
#[derive(Clone, Debug)]
pub struct Rules {
    matcher: Matcher,
    kinds: Vec<Kind>,
    /// Capture groups naming the connection (see [`Builtin::session`]).
    session: Option<Regex>,
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
            Some(s) => Some(Regex::new(s).map_err(|e| PatternError {
                ignore: false,
                index: 0,
                message: format!("session: {e}"),
            })?),
            None => None,
        };
        Ok(Self {
            matcher,
            kinds: b.rules.iter().map(|r| r.kind).collect(),
            session,
        })
    }

    /// An admin's patterns: every match is a failure of its `<HOST>`.
    pub(crate) fn custom(patterns: &[String], ignore: &[String]) -> Result<Self, PatternError> {
        Ok(Self {
            matcher: Matcher::compile(patterns, ignore, false)?,
            kinds: vec![Kind::Failure; patterns.len()],
            session: None,
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

    /// The connection a line belongs to, from the groups of the session regex.
    fn session_key(&self, line: &[u8]) -> Option<Vec<u8>> {
        let caps = self.session.as_ref()?.captures(line)?;
        let mut key = Vec::with_capacity(32);
        for g in caps.iter().skip(1) {
            key.extend_from_slice(g.map_or(&b""[..], |m| m.as_bytes()));
            key.push(0);
        }
        Some(key)
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
        match &mut self.inner {
            Inner::Fail2ban(m) => m.feed_at(line, now).map(|f| f.host).into_iter().collect(),
            Inner::Rules { rules, sessions } => {
                let mut out = Vec::new();
                let Some(found) = rules.matcher.find(line) else {
                    return out;
                };
                let (rule, host) = match found {
                    Found::Ambiguous { .. } => return out,
                    Found::Host { rule, host } => (rule, Some(host)),
                    Found::Hostless { rule } => (rule, None),
                };
                let kind = rules.kinds[rule];
                match rules.session_key(line) {
                    Some(key) => sessions.apply(key, kind, host, now, &mut out),
                    None => {
                        if matches!(kind, Kind::Failure | Kind::FailureEnd) {
                            out.extend(host);
                        }
                    }
                }
                out
            }
        }
    }

    /// A journal entry, as the jail reads it: `IDENT[PID]: MESSAGE` for palisade's rules
    /// (the form their prefixes know), `HOST IDENT[PID]: MESSAGE` for a fail2ban filter
    /// (what fail2ban's systemd backend hands its filters).
    pub fn feed_journal(&mut self, entry: &JournalEntry, now: u64) -> Vec<IpAddr> {
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
        self.feed(&line, now)
    }
}
