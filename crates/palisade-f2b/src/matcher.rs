//! Lines in, failures out, as fail2ban's `Filter.findFailure` decides them (with its
//! default of stopping at the first failregex that matches).
//!
//! For each line: the timestamp is found and cut out ([`crate::date`]); the line joins the
//! buffer of the last `maxlines` lines; `prefregex`, if any, must match and its
//! `<F-CONTENT>` becomes what the failregexes see; the first failregex that matches
//! decides (an `ignoreregex` match cancels it); `<F-MLFID>` failures are merged with what
//! earlier lines of the same connection said ([`crate::mlfid`]).
//!
//! The address of a failure is only ever the `ip4`/`ip6` group of the matching failregex
//! (or of an earlier line of the same connection), parsed as an address: text a client
//! sent elsewhere in the line is never read as the host. Host names are never resolved.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::ambiguity::competing_address;
use crate::filter::{Filter, Rule};
use crate::mlfid::{Fail, MlfidCache};
use crate::pyregex::Spans;

/// Longer lines are skipped: a backtracking regex over megabytes of attacker-supplied
/// text is a way to stall the watcher, and no log format writes such lines.
pub const MAX_LINE: usize = 16 * 1024;

/// A failure: who, and what the filter said about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub host: IpAddr,
    /// From `<CIDR>`/`<SUBNET>`: the network the filter blames.
    pub prefix_len: Option<u8>,
    /// `<F-USER>`.
    pub user: Option<String>,
    /// `<F-ID>`.
    pub id: Option<String>,
    /// Which failregex matched (from 0, in the filter's order).
    pub regex_index: usize,
}

/// Per-log matching state of a [`Filter`].
#[derive(Clone, Debug)]
pub struct FilterMatcher {
    filter: Filter,
    buffer: VecDeque<String>,
    connections: MlfidCache,
    /// The date template that hit last (see [`crate::date::DateDetector::find`]).
    last_date_template: Option<usize>,
}

impl FilterMatcher {
    pub(crate) fn new(filter: Filter) -> Self {
        Self {
            filter,
            buffer: VecDeque::new(),
            connections: MlfidCache::default(),
            last_date_template: None,
        }
    }

    pub fn filter(&self) -> &Filter {
        &self.filter
    }

    /// Takes the next line of the log (without or with its `\n`); returns the failure it
    /// completes, if any. Never panics, whatever the bytes. Connection ids are never
    /// forgotten by age this way: use [`Self::feed_at`] when the time is known.
    pub fn feed(&mut self, line: &[u8]) -> Option<Failure> {
        self.feed_inner(line, None)
    }

    /// [`Self::feed`], with the time the line was read (Unix seconds), so that connection
    /// ids are forgotten five minutes after they were first seen, as fail2ban does.
    pub fn feed_at(&mut self, line: &[u8], now: u64) -> Option<Failure> {
        self.feed_inner(line, Some(now))
    }

    fn feed_inner(&mut self, line: &[u8], now: Option<u64>) -> Option<Failure> {
        if line.len() > MAX_LINE {
            return None;
        }
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let line = String::from_utf8_lossy(line);
        let inner = self.filter.inner.clone();
        let found = inner
            .dates
            .as_ref()
            .and_then(|d| d.find(&line, &mut self.last_date_template));
        let text = match found {
            Some((s, e)) => format!("{}{}", &line[..s], &line[e..]),
            None => line.into_owned(),
        };
        // One line at a time needs no buffer; several are kept and joined by `\n`.
        let mut buf = if inner.maxlines > 1 {
            self.buffer.push_back(text);
            while self.buffer.len() > inner.maxlines {
                self.buffer.pop_front();
            }
            self.joined()
        } else {
            text
        };
        if !inner.ignoreregex.is_empty()
            && inner.ignoreregex.len() + 2 < inner.failregex.len()
            && inner.ignoreregex.iter().any(|r| r.regex.is_match(&buf))
        {
            return None;
        }
        let mut base = Fail::default();
        if let Some(pref) = &inner.prefregex {
            let (groups, content) = pref.apply(&buf)?;
            base = groups;
            if let Some(content) = content {
                if inner.maxlines > 1 {
                    self.buffer.clear();
                    self.buffer.push_back(content.clone());
                }
                buf = content;
            }
        }
        let candidates: Vec<usize> = match &inner.screen {
            Some(set) => set.matches(&buf).into_iter().collect(),
            None => (0..inner.failregex.len()).collect(),
        };
        for index in candidates {
            let rule = &inner.failregex[index];
            let Some(spans) = rule.regex.search(&buf) else {
                continue;
            };
            let ignored = |text: &str| inner.ignoreregex.iter().any(|r| r.regex.is_match(text));
            if inner.maxlines > 1 {
                // The lines the match covers leave the buffer, ignored or not.
                let (matched, unmatched) = self.split_buffer(&buf, &spans, rule);
                self.buffer = unmatched;
                if !inner.ignoreregex.is_empty() && ignored(&matched.join("\n")) {
                    return None;
                }
            } else if ignored(&buf) {
                return None;
            }
            if let Some(host) = rule.groups.host_span(&spans) {
                let matched = spans[0].unwrap_or((0, buf.len()));
                if competing_address(&inner, &buf, matched, host) {
                    return None;
                }
            }
            let fail = rule.groups.read(&buf, &spans, &base);
            return self.decide(fail, index, now);
        }
        None
    }

    /// The failure a matched regex makes, after merging its connection's earlier lines.
    fn decide(&mut self, mut fail: Fail, index: usize, now: Option<u64>) -> Option<Failure> {
        if let Some(mlfid) = fail.mlfid.clone() {
            fail = self.connections.merge(&mlfid, fail, now);
        }
        if fail.is_nofail() {
            return None;
        }
        let host = if let Some(ip4) = &fail.ip4 {
            IpAddr::V4(ip4.parse::<Ipv4Addr>().ok()?)
        } else if let Some(ip6) = &fail.ip6 {
            parse_address(ip6)?
        } else {
            // A name (never resolved), an id without address, or an address to come.
            if fail.dns.is_none() && fail.fid.is_none() {
                if let Some(mlfid) = &fail.mlfid {
                    self.connections.mark_pending(mlfid);
                }
            }
            return None;
        };
        if host.is_unspecified() {
            return None;
        }
        let max = if host.is_ipv4() { 32 } else { 128 };
        let prefix_len = fail
            .cidr
            .as_deref()
            .and_then(|c| c.parse::<u8>().ok())
            .filter(|&p| p <= max);
        Some(Failure {
            host,
            prefix_len,
            user: fail.user,
            id: fail.fid,
            regex_index: index,
        })
    }

    fn joined(&self) -> String {
        let mut out = String::new();
        for (i, l) in self.buffer.iter().enumerate() {
            if i > 0 {
                out.push('\n');
            }
            out.push_str(l);
        }
        out
    }

    /// The buffered lines the match covers, and the others (which stay buffered); lines a
    /// `<SKIPLINES>` group skipped count as not covered.
    fn split_buffer(
        &self,
        buf: &str,
        spans: &Spans,
        rule: &Rule,
    ) -> (Vec<String>, VecDeque<String>) {
        let lines: Vec<&str> = buf.split('\n').collect();
        let (start, end) = spans[0].unwrap_or((0, 0));
        // Byte-wise: a match may end inside the text of a multi-byte character's line.
        let bytes = buf.as_bytes();
        let newlines = |to: usize| {
            bytes[..to.min(bytes.len())]
                .iter()
                .filter(|&&b| b == b'\n')
                .count()
        };
        let first = newlines(start + 1);
        let from = end.saturating_sub(1).min(bytes.len());
        let last = match bytes[from..].iter().position(|&b| b == b'\n') {
            Some(at) => newlines(from + at + 1),
            None => lines.len(),
        };
        let first = first.min(lines.len());
        let last = last.clamp(first, lines.len());
        let mut matched: Vec<String> = lines[first..last].iter().map(|s| s.to_string()).collect();
        let mut unmatched: VecDeque<String> =
            lines[..first].iter().map(|s| s.to_string()).collect();
        let skipped: String = rule
            .groups
            .skiplines
            .iter()
            .filter_map(|&g| spans.get(g).copied().flatten())
            .map(|(s, e)| &buf[s..e])
            .collect();
        let mut n = 0;
        for skipped_line in skipped.lines() {
            if let Some(m) = matched[n.min(matched.len())..]
                .iter()
                .position(|l| l == skipped_line)
            {
                unmatched.push_back(matched.remove(n + m));
                n += m;
            }
        }
        unmatched.extend(lines[last..].iter().map(|s| s.to_string()));
        (matched, unmatched)
    }
}

/// An address as a `<HOST>` group captures it: dotted IPv4 (no leading zeros, which some
/// tools read as octal) or IPv6, an IPv4-mapped IPv6 address read as IPv4.
pub(crate) fn parse_address(text: &str) -> Option<IpAddr> {
    if text.contains(':') {
        let v6 = text.parse::<Ipv6Addr>().ok()?;
        Some(v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4))
    } else {
        text.parse::<Ipv4Addr>().ok().map(IpAddr::V4)
    }
}
