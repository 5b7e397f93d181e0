//! `filter = "sshd[mode=aggressive, __pam_auth='pam_ldap']"`: which filter, with which
//! options, written as fail2ban's jails write it.

use crate::error::FilterError;

/// A filter name (or path) and the options that override its `[Init]`/`[Definition]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterSpec {
    /// `sshd`, or a path such as `/etc/fail2ban/filter.d/sshd.conf` (the `.conf` is
    /// optional: `NAME.conf` and `NAME.local` are read either way).
    pub name: String,
    /// In the order written; a later one replaces an earlier one of the same name.
    pub options: Vec<(String, String)>,
}

impl FilterSpec {
    /// A filter without options.
    pub fn named(name: &str) -> Self {
        Self {
            name: name.to_string(),
            options: Vec::new(),
        }
    }

    /// Adds or replaces an option (the watcher sets `logtype=journal` this way for journal
    /// sources, as fail2ban does for its systemd backend).
    pub fn with_option(mut self, name: &str, value: &str) -> Self {
        self.options.retain(|(n, _)| n != name);
        self.options.push((name.to_string(), value.to_string()));
        self
    }

    /// The value of option `name`, if given.
    pub fn option(&self, name: &str) -> Option<&str> {
        self.options
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Parses `name`, `name[a=1, b="x, y", c='z']` or `name[a=1][b=2]`.
    pub fn parse(text: &str) -> Result<Self, FilterError> {
        let err = |problem: String| FilterError::Spec {
            spec: text.to_string(),
            problem,
        };
        let trimmed = text.trim_end();
        let (name, inner) = match trimmed.find('[') {
            None => (trimmed, None),
            Some(open) => {
                let Some(inner) = trimmed[open + 1..].strip_suffix(']') else {
                    return Err(err(
                        "options must end with `]`: write `name[opt=value, ...]`".into(),
                    ));
                };
                (&trimmed[..open], Some(inner))
            }
        };
        let name = name.trim();
        if name.is_empty() {
            return Err(err("no filter name before the options".into()));
        }
        let mut spec = Self::named(name);
        if let Some(inner) = inner {
            for (key, value) in parse_options(inner).map_err(err)? {
                spec = spec.with_option(&key, &value);
            }
        }
        Ok(spec)
    }
}

/// `a=1, b="x", c='y'` (groups `][` allowed between options).
fn parse_options(inner: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut rest = inner;
    loop {
        rest = rest.trim_start();
        if rest.is_empty() || rest.strip_prefix(',').is_some_and(|r| r.trim().is_empty()) {
            return Ok(out);
        }
        let key_len = rest
            .find(|c: char| !(c.is_alphanumeric() || matches!(c, '_' | '-' | '.')))
            .unwrap_or(rest.len());
        if key_len == 0 || !rest[key_len..].starts_with('=') {
            return Err(format!(
                "expected `name=value` at `{}`",
                rest.chars().take(25).collect::<String>()
            ));
        }
        let key = &rest[..key_len];
        rest = &rest[key_len + 1..];
        let value;
        if let Some(quote @ ('"' | '\'')) = rest.chars().next() {
            let Some(close) = rest[1..].find(quote) else {
                return Err(format!(
                    "option `{key}`: the value's {quote} is never closed"
                ));
            };
            value = &rest[1..1 + close];
            rest = &rest[close + 2..];
        } else {
            let end = rest.find([',', ']']).unwrap_or(rest.len());
            value = &rest[..end];
            rest = &rest[end..];
        }
        out.push((key.trim().to_string(), value.trim().to_string()));
        if let Some(r) = rest.strip_prefix(',') {
            rest = r;
        } else if let Some(r) = rest.strip_prefix(']') {
            let r = r.trim_start();
            let Some(r) = r.strip_prefix('[') else {
                return Err(format!("option `{key}`: `]` must be followed by `[`"));
            };
            rest = r;
        } else if !rest.is_empty() {
            return Err(format!(
                "option `{key}`: unexpected `{}` after its value (quote values that contain spaces or commas)",
                rest.chars().take(25).collect::<String>()
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(spec: &FilterSpec) -> Vec<(&str, &str)> {
        spec.options
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    #[test]
    fn parses_names_and_options_as_jails_write_them() {
        let s = FilterSpec::parse("sshd").unwrap();
        assert_eq!((s.name.as_str(), s.options.len()), ("sshd", 0));
        let s = FilterSpec::parse("sshd[mode=aggressive]").unwrap();
        assert_eq!(opts(&s), [("mode", "aggressive")]);
        let s = FilterSpec::parse(r#"x[a=1, b="p, q]", c='z',]"#).unwrap();
        assert_eq!(opts(&s), [("a", "1"), ("b", "p, q]"), ("c", "z")]);
        let s = FilterSpec::parse("x[a=1][b=2]").unwrap();
        assert_eq!(opts(&s), [("a", "1"), ("b", "2")]);
        let s = FilterSpec::parse("/etc/f/x.conf[a=]").unwrap();
        assert_eq!(
            (s.name.as_str(), opts(&s)),
            ("/etc/f/x.conf", vec![("a", "")])
        );
    }

    #[test]
    fn refuses_malformed_options_with_the_reason() {
        for (text, needle) in [
            ("sshd[mode=x", "must end with `]`"),
            ("[a=1]", "no filter name"),
            ("x[=1]", "expected `name=value`"),
            ("x[a='1]", "never closed"),
            ("x[a=\"1\" b=2]", "unexpected"),
        ] {
            let e = FilterSpec::parse(text).unwrap_err().to_string();
            assert!(e.contains(needle), "{text}: {e}");
        }
    }
}
