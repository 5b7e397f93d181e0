//! Reading palisade.toml for its several readers, with errors that name file, line and key.
//!
//! One config file feeds the policy (this crate), the log watcher's jails and, later, other
//! daemons; each reads its own tables from the same text. They share this reader so every
//! error looks the same to the admin (`palisade.toml:14: jails.sshd.maxretry: ...`) and so
//! the rules every reader applies (what a name may be) are written once.

use std::fmt;

/// An error in the config: where, which key, what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub file: String,
    pub line: usize,
    pub key: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: ", self.file, self.line)?;
        if !self.key.is_empty() {
            write!(f, "{}: ", self.key)?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}

impl ConfigError {
    /// The error for `key` at byte `offset` of the config `text` (the line is counted from
    /// it). For readers that keep the text apart from a [`ConfigText`].
    pub fn at(
        file: &str,
        text: &str,
        offset: usize,
        key: &str,
        message: impl Into<String>,
    ) -> Self {
        ConfigText::new(file, text).error(offset..offset, key, message)
    }

    /// A TOML syntax or shape error, at the line where the parser stopped.
    pub fn from_toml(file: &str, text: &str, e: &toml::de::Error) -> Self {
        let offset = e.span().map_or(0, |s| s.start);
        Self::at(file, text, offset, "", e.message().trim_end())
    }
}

/// One config text and its file name, for errors pointing into it.
#[derive(Clone, Copy)]
pub struct ConfigText<'a> {
    pub file: &'a str,
    pub text: &'a str,
}

impl<'a> ConfigText<'a> {
    pub fn new(file: &'a str, text: &'a str) -> Self {
        Self { file, text }
    }

    /// The 1-based line of a byte offset.
    pub fn line(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1
    }

    /// An error at the start of `span`, under `key`.
    pub fn error(
        &self,
        span: std::ops::Range<usize>,
        key: &str,
        message: impl Into<String>,
    ) -> ConfigError {
        ConfigError {
            file: self.file.to_string(),
            line: self.line(span.start),
            key: key.to_string(),
            message: message.into(),
        }
    }

    /// A duration given as `"7d"`/`"12h"` or as a number of seconds.
    pub fn seconds(&self, v: &toml::Spanned<toml::Value>, key: &str) -> Result<u64, ConfigError> {
        match v.get_ref() {
            toml::Value::Integer(n) => u64::try_from(*n)
                .map_err(|_| self.error(v.span(), key, "a duration cannot be negative")),
            toml::Value::String(s) => crate::parse_duration(s)
                .map(|d| d.as_secs())
                .map_err(|p| self.error(v.span(), key, format!("`{s}`: {p}"))),
            other => Err(self.error(
                v.span(),
                key,
                format!(
                    "expected a duration (\"7d\", \"12h\") or seconds, not {}",
                    other.type_str()
                ),
            )),
        }
    }

    /// Deserialize the whole text; a TOML error names its line.
    pub fn parse<T: serde::de::DeserializeOwned>(&self) -> Result<T, ConfigError> {
        toml::from_str(self.text).map_err(|e| {
            self.error(
                e.span().unwrap_or(0..0),
                "",
                e.message().trim_end().to_string(),
            )
        })
    }
}

/// Longest name of a set or jail. Kernel objects add suffixes to a set's name
/// (`_v6_recent`, and the log watcher's `-ports` set), and this leaves room for all of them
/// under the kernel's limits.
pub const NAME_MAX: usize = 40;

/// What a set or jail name may be, for messages.
pub const NAME_RULE: &str = "letters, digits, `-` and `_`, at most 40 characters";

/// The one rule for names of sets and jails, wherever they are given: command line, policy,
/// jails. A dot never appears, which keeps them apart from internal names (`meter.N.v4`).
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= NAME_MAX
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_one_rule() {
        assert!(is_valid_name("blocklist"));
        assert!(is_valid_name(&"x".repeat(NAME_MAX)));
        assert!(!is_valid_name(&"x".repeat(NAME_MAX + 1)));
        assert!(!is_valid_name("a b"));
        assert!(!is_valid_name("meter.1"));
        assert!(!is_valid_name(""));
    }

    #[test]
    fn errors_name_the_line() {
        let t = ConfigText::new("p.toml", "a = 1\nb = \n");
        let e = t.parse::<toml::Table>().unwrap_err();
        assert_eq!((e.file.as_str(), e.line), ("p.toml", 2));
        assert_eq!(t.error(6..7, "b", "bad").to_string(), "p.toml:2: b: bad");
    }
}
