//! Python regular expressions on Rust's engines.
//!
//! fail2ban's patterns are Python `re` patterns. They are parsed here (`parse`) and
//! written out again (`emit`) rather than handed over as text, because the two dialects
//! read some of the same text differently (`\Z`, `{,n}`, `[[]`, `\<`, `(?P=name)`, global
//! flags) and a pattern read differently is a pattern that matches the wrong thing.
//!
//! The fast `regex` engine runs every pattern it can. Patterns with lookaround,
//! backreferences, conditionals or atomic groups run on `fancy-regex`, behind a screen
//! (the same pattern loosened so `regex` can run it): most lines never get past the
//! screen. A backtracking search that takes too long on a hostile line counts as no match.

mod ast;
mod emit;
mod escape;
mod parse;
mod width;

pub use ast::Flags;
use emit::{emit, Target};
pub use parse::ParseError;

/// How far fancy-regex may backtrack on one line before giving up (its own default is
/// 1,000,000 steps; lines are short, so a smaller bound keeps a hostile line cheap).
const BACKTRACK_LIMIT: usize = 200_000;

/// Compiled patterns may not be larger than this (a pattern that compiles to more is an
/// error, not a memory hog).
const SIZE_LIMIT: usize = 16 << 20;

#[derive(Clone, Debug)]
enum Engine {
    Fast(regex::Regex),
    Backtracking {
        screen: regex::Regex,
        exact: fancy_regex::Regex,
    },
}

/// One compiled Python pattern.
#[derive(Clone, Debug)]
pub struct PyRegex {
    engine: Engine,
    /// Capture group names by number (0 is the whole match).
    names: Vec<Option<String>>,
    /// The loosened pattern (see [`emit::Target::Screen`]), for a set of screens.
    screen_source: String,
}

/// Where each capture group matched: byte ranges by group number.
pub type Spans = Vec<Option<(usize, usize)>>;

impl PyRegex {
    /// Compiles `pattern`; the error's offset points into `pattern`.
    pub fn new(pattern: &str, flags: Flags) -> Result<Self, ParseError> {
        let parsed = parse::parse(pattern, flags)?;
        let whole = |message: String| ParseError { offset: 0, message };
        let build = |source: &str| {
            regex::RegexBuilder::new(source)
                .size_limit(SIZE_LIMIT)
                .build()
                .map_err(|e| whole(format!("the translated pattern does not compile: {e}")))
        };
        let engine = if parsed.root.needs_backtracking() {
            let exact = fancy_regex::RegexBuilder::new(&emit(&parsed.root, Target::Exact))
                .backtrack_limit(BACKTRACK_LIMIT)
                .delegate_size_limit(SIZE_LIMIT)
                .build()
                .map_err(|e| whole(describe_fancy_error(&e)))?;
            Engine::Backtracking {
                screen: build(&emit(&parsed.root, Target::Screen))?,
                exact,
            }
        } else {
            Engine::Fast(build(&emit(&parsed.root, Target::Exact))?)
        };
        let mut names = vec![None];
        names.extend(parsed.groups);
        Ok(Self {
            engine,
            names,
            screen_source: emit(&parsed.root, Target::Screen),
        })
    }

    /// Whether the pattern needed the backtracking engine.
    pub fn is_backtracking(&self) -> bool {
        matches!(self.engine, Engine::Backtracking { .. })
    }

    /// A pattern for `regex` that matches wherever this one does (and maybe elsewhere):
    /// many of them run as one set, to find the few worth trying on a line.
    pub fn screen_source(&self) -> &str {
        &self.screen_source
    }

    /// Number of the group called `name`.
    pub fn group(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n.as_deref() == Some(name))
    }

    pub fn group_names(&self) -> impl Iterator<Item = &str> {
        self.names.iter().filter_map(|n| n.as_deref())
    }

    pub fn is_match(&self, text: &str) -> bool {
        match &self.engine {
            Engine::Fast(r) => r.is_match(text),
            Engine::Backtracking { screen, exact } => {
                screen.is_match(text) && exact.is_match(text).unwrap_or(false)
            }
        }
    }

    /// Python's `re.search`: the first match and its groups, `None` if none.
    pub fn search(&self, text: &str) -> Option<Spans> {
        self.search_at(text, 0)
    }

    /// `re.search` from byte `start` on (what comes before still counts for `\b`).
    pub fn search_at(&self, text: &str, start: usize) -> Option<Spans> {
        let spans = |len: usize, get: &dyn Fn(usize) -> Option<(usize, usize)>| -> Spans {
            (0..len).map(get).collect()
        };
        match &self.engine {
            Engine::Fast(r) => {
                let caps = r.captures_at(text, start)?;
                Some(spans(caps.len(), &|i| {
                    caps.get(i).map(|m| (m.start(), m.end()))
                }))
            }
            Engine::Backtracking { screen, exact } => {
                if !screen.is_match_at(text, start) {
                    return None;
                }
                let caps = exact.captures_from_pos(text, start).ok()??;
                Some(spans(caps.len(), &|i| {
                    caps.get(i).map(|m| (m.start(), m.end()))
                }))
            }
        }
    }
}

fn describe_fancy_error(e: &fancy_regex::Error) -> String {
    let text = e.to_string();
    if text.contains("ook-behind") || text.contains("ookbehind") {
        format!("lookbehind must have a fixed length, as in Python: {text}")
    } else {
        format!("the translated pattern does not compile: {text}")
    }
}

#[cfg(test)]
mod tests;
