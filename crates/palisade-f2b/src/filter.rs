//! Loading a filter: files → options → compiled regexes and date templates.

use std::sync::Arc;

use crate::date::DateDetector;
use crate::definition::resolve_definition;
use crate::error::FilterError;
use crate::hosttags::{expand_tags, localize_flags};
use crate::includes::read_filter_config;
use crate::matcher::FilterMatcher;
use crate::mlfid::Fail;
use crate::prefregex::{Prefix, CONTENT_TO_END};
use crate::pyregex::{Flags, PyRegex, Spans};
use crate::source::FilterSource;
use crate::sourced::{Origin, SourcedText};
use crate::spec::FilterSpec;

/// A loaded filter: cheap to clone, shared by all its matchers.
#[derive(Clone, Debug)]
pub struct Filter {
    pub(crate) inner: Arc<Compiled>,
}

#[derive(Debug)]
pub(crate) struct Compiled {
    pub name: String,
    pub files: Vec<String>,
    pub prefregex: Option<Prefix>,
    pub failregex: Vec<Rule>,
    pub ignoreregex: Vec<Rule>,
    /// One pass over a line says which failregexes may match it.
    pub screen: Option<regex::RegexSet>,
    pub maxlines: usize,
    /// `None` for journal lines, which carry no timestamp text.
    pub dates: Option<DateDetector>,
    pub journalmatch: Option<String>,
    pub logtype: String,
}

/// A compiled regex and the numbers of the groups the failure logic reads.
#[derive(Debug)]
pub(crate) struct Rule {
    pub regex: PyRegex,
    /// The regex after interpolation and tag expansion, for messages.
    pub source: String,
    pub groups: GroupIndex,
}

#[derive(Debug, Default)]
pub(crate) struct GroupIndex {
    ip4: Option<usize>,
    ip6: Option<usize>,
    dns: Option<usize>,
    cidr: Option<usize>,
    fid: Option<usize>,
    user: Option<usize>,
    mlfid: Option<usize>,
    nofail: Option<usize>,
    mlfgained: Option<usize>,
    mlfforget: Option<usize>,
    pub content: Option<usize>,
    /// `alt_user`, `alt_user_1`, ...: used when `user` is empty.
    alt_user: Vec<usize>,
    alt_fid: Vec<usize>,
    pub skiplines: Vec<usize>,
}

impl GroupIndex {
    fn new(re: &PyRegex) -> Self {
        let alt = |base: &str| -> Vec<usize> {
            re.group_names()
                .filter(|n| {
                    n.strip_prefix("alt_").is_some_and(|r| {
                        r == base
                            || r.strip_prefix(base)
                                .and_then(|d| d.strip_prefix('_'))
                                .is_some_and(|d| d.bytes().all(|b| b.is_ascii_digit()))
                    })
                })
                .filter_map(|n| re.group(n))
                .collect()
        };
        Self {
            ip4: re.group("ip4"),
            ip6: re.group("ip6"),
            dns: re.group("dns"),
            cidr: re.group("cidr"),
            fid: re.group("fid"),
            user: re.group("user"),
            mlfid: re.group("mlfid"),
            nofail: re.group("nofail"),
            mlfgained: re.group("mlfgained"),
            mlfforget: re.group("mlfforget"),
            content: re.group("content"),
            alt_user: alt("user"),
            alt_fid: alt("id"),
            skiplines: re
                .group_names()
                .filter(|n| n.starts_with("skiplines"))
                .filter_map(|n| re.group(n))
                .collect(),
        }
    }

    /// Where the address group (`ip4`, else `ip6`) matched.
    pub fn host_span(&self, spans: &Spans) -> Option<(usize, usize)> {
        [self.ip4, self.ip6]
            .into_iter()
            .flatten()
            .find_map(|g| spans.get(g).copied().flatten())
    }

    /// Whether the regex can name what failed (an address, an id or a connection).
    fn identifies(&self) -> bool {
        self.fid.is_some()
            || self.ip4.is_some()
            || self.ip6.is_some()
            || self.dns.is_some()
            || self.mlfid.is_some()
    }

    /// The groups of a match laid over `base` (the prefregex's groups): a group this regex
    /// has replaces the base value even when it did not take part (as a Python dict
    /// update does).
    pub fn read(&self, text: &str, spans: &Spans, base: &Fail) -> Fail {
        let get = |g: Option<usize>, old: &Option<String>| -> Option<String> {
            match g {
                Some(g) => spans
                    .get(g)
                    .copied()
                    .flatten()
                    .map(|(s, e)| text[s..e].to_string()),
                None => old.clone(),
            }
        };
        let alt = |own: Option<String>, alts: &[usize]| -> Option<String> {
            if own.as_deref().is_some_and(|v| !v.is_empty()) {
                return own;
            }
            alts.iter()
                .filter_map(|&g| spans.get(g).copied().flatten())
                .map(|(s, e)| text[s..e].to_string())
                .find(|v| !v.is_empty())
                .or(own)
        };
        Fail {
            ip4: get(self.ip4, &base.ip4),
            ip6: get(self.ip6, &base.ip6),
            dns: get(self.dns, &base.dns),
            cidr: get(self.cidr, &base.cidr),
            fid: alt(get(self.fid, &base.fid), &self.alt_fid),
            user: alt(get(self.user, &base.user), &self.alt_user),
            mlfid: get(self.mlfid, &base.mlfid),
            nofail: get(self.nofail, &base.nofail),
            mlfgained: get(self.mlfgained, &base.mlfgained),
            mlfforget: get(self.mlfforget, &base.mlfforget),
            users: Vec::new(),
            pending: false,
        }
    }
}

impl Filter {
    /// The filter's name as given.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// How many lines a failure may span (`maxlines`).
    pub fn maxlines(&self) -> usize {
        self.inner.maxlines
    }

    /// The files read, in order.
    pub fn files(&self) -> &[String] {
        &self.inner.files
    }

    /// The failregexes as compiled (after interpolation and tag expansion).
    pub fn failregexes(&self) -> Vec<&str> {
        self.inner
            .failregex
            .iter()
            .map(|r| r.source.as_str())
            .collect()
    }

    /// How many failregexes need the backtracking engine.
    pub fn backtracking_count(&self) -> usize {
        self.inner
            .failregex
            .iter()
            .filter(|r| r.regex.is_backtracking())
            .count()
    }

    /// The filter's `journalmatch` (systemd journal field matches), if it has one.
    pub fn journalmatch(&self) -> Option<&str> {
        self.inner.journalmatch.as_deref()
    }

    /// `file` or `journal` (given as `logtype=...` with the name, or by the filter).
    pub fn logtype(&self) -> &str {
        &self.inner.logtype
    }

    /// A matcher with its own multi-line state (one per log being followed).
    pub fn matcher(&self) -> FilterMatcher {
        FilterMatcher::new(self.clone())
    }
}

/// Loads filter `spec` from `source` (paths relative to the filter directory).
pub fn load_filter(spec: &FilterSpec, source: &dyn FilterSource) -> Result<Filter, FilterError> {
    let base = spec
        .name
        .strip_suffix(".conf")
        .or_else(|| spec.name.strip_suffix(".local"))
        .unwrap_or(&spec.name);
    let config = read_filter_config(base, source)?;
    let def = resolve_definition(&config, spec)?;
    if def.failregex.is_empty() {
        return Err(FilterError::Filter {
            name: spec.name.clone(),
            problem: "has no failregex in [Definition] (nothing to match); is this a filter file?"
                .into(),
        });
    }
    let use_dns = def.usedns.as_deref().map(str::trim) != Some("no");
    let multi_line = Flags {
        multi_line: def.maxlines > 1,
        ..Flags::default()
    };
    let prefregex = def
        .prefregex
        .as_ref()
        .map(|r| compile_prefix(r, use_dns))
        .transpose()?;
    let failregex = def
        .failregex
        .iter()
        .map(|r| compile("failregex", r, multi_line, use_dns))
        .collect::<Result<Vec<_>, _>>()?;
    let prefix_identifies = prefregex
        .as_ref()
        .is_some_and(|p| p.whole.groups.identifies());
    for (rule, text) in failregex.iter().zip(&def.failregex) {
        if !rule.groups.identifies() && !prefix_identifies {
            return Err(FilterError::Regex {
                origin: text.origin_or_options(0),
                option: "failregex".into(),
                regex: text.as_str().to_string(),
                problem:
                    "says nothing about who failed: it needs <HOST> (or <ADDR>, <F-ID>, <F-MLFID>)"
                        .into(),
            });
        }
    }
    let ignoreregex = def
        .ignoreregex
        .iter()
        .map(|r| compile("ignoreregex", r, Flags::default(), use_dns))
        .collect::<Result<Vec<_>, _>>()?;
    let dates = if def.logtype.trim() == "journal" {
        None
    } else {
        let pattern = def.datepattern.as_ref();
        Some(
            DateDetector::new(pattern.map(|p| p.as_str())).map_err(|(line, problem)| {
                FilterError::Regex {
                    origin: pattern.map_or_else(Origin::filter_options, |p| p.origin_or_options(0)),
                    option: "datepattern".into(),
                    regex: line,
                    problem,
                }
            })?,
        )
    };
    let screen = regex::RegexSetBuilder::new(failregex.iter().map(|r| r.regex.screen_source()))
        .size_limit(64 << 20)
        .dfa_size_limit(32 << 20)
        .build()
        .ok();
    Ok(Filter {
        inner: Arc::new(Compiled {
            name: spec.name.clone(),
            files: config.files,
            prefregex,
            failregex,
            ignoreregex,
            screen,
            maxlines: def.maxlines,
            dates,
            journalmatch: def.journalmatch,
            logtype: def.logtype,
        }),
    })
}

/// The prefregex, and its start alone when it ends by capturing the rest of the line.
pub(crate) fn compile_prefix(text: &SourcedText, use_dns: bool) -> Result<Prefix, FilterError> {
    let whole = compile("prefregex", text, Flags::default(), use_dns)?;
    let head = whole
        .source
        .strip_suffix(CONTENT_TO_END)
        .and_then(|head| PyRegex::new(head, Flags::default()).ok())
        .map(|regex| Rule {
            groups: GroupIndex::new(&regex),
            source: whole.source.clone(),
            regex,
        });
    Ok(Prefix { whole, head })
}

/// Tags expanded, then compiled; errors point at the line the offending part came from.
fn compile(
    option: &str,
    text: &SourcedText,
    flags: Flags,
    use_dns: bool,
) -> Result<Rule, FilterError> {
    let fail = |at: usize, t: &SourcedText, problem: String| FilterError::Regex {
        origin: t.origin_or_options(at),
        option: option.to_string(),
        regex: text.as_str().to_string(),
        problem,
    };
    let expanded = expand_tags(text, use_dns).map_err(|(at, p)| fail(at, text, p))?;
    let expanded = localize_flags(&expanded);
    let regex = PyRegex::new(expanded.as_str(), flags).map_err(|e| {
        let construct: String = expanded.as_str()[e.offset..].chars().take(12).collect();
        fail(
            e.offset,
            &expanded,
            format!("{} (at `{construct}`)", e.message),
        )
    })?;
    Ok(Rule {
        groups: GroupIndex::new(&regex),
        regex,
        source: expanded.as_str().to_string(),
    })
}
