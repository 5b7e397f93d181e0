//! `%(name)s` in option values, as Python's `configparser.BasicInterpolation` expands it,
//! with fail2ban's additions.
//!
//! `%(name)s` is the option `name` of the same section, else of `[DEFAULT]` (options given
//! with the filter name, `sshd[mode=...]`, come first of all); `%%` is a `%`; anything else
//! after `%` is an error. Values are expanded again until no `%` is left, at most ten
//! levels deep. fail2ban adds `%(section/name)s` (option `name` of another section, or of
//! `[DEFAULT]` if that section lacks it), `%(known/name)s` (the value a later file
//! replaced, see [`crate::includes`]) and `%(__name__)s` (the section's own name).

use crate::error::FilterError;
use crate::includes::{Config, KNOWN_PREFIX};
use crate::ini::{Options, DEFAULT_SECTION};
use crate::sourced::{Origin, SourcedText};

/// configparser's `MAX_INTERPOLATION_DEPTH`.
const MAX_DEPTH: usize = 10;

/// Option lookups in a merged config, with the filter's options as `vars`.
pub struct Lookup<'a> {
    pub config: &'a Config,
}

impl<'a> Lookup<'a> {
    pub fn new(config: &'a Config) -> Self {
        Self { config }
    }

    fn section(&self, section: &str) -> Option<&'a Options> {
        if section == DEFAULT_SECTION {
            Some(&self.config.defaults)
        } else {
            self.config.sections.get(section)
        }
    }

    /// The raw value of `option` as configparser's `get(section, option, vars=vars)` finds
    /// it: `vars`, then the section, then `[DEFAULT]`. `None` if the section or option is
    /// missing.
    pub fn raw(
        &self,
        section: &str,
        option: &str,
        vars: Option<&'a Options>,
    ) -> Option<&'a SourcedText> {
        let own = self.section(section)?;
        let option = option.to_lowercase();
        vars.and_then(|v| v.get(&option))
            .or_else(|| own.get(&option))
            .or_else(|| self.config.defaults.get(&option))
    }

    /// The interpolated value of `option` (configparser's `get`), `None` if missing.
    pub fn get(
        &self,
        section: &str,
        option: &str,
        vars: Option<&'a Options>,
    ) -> Result<Option<SourcedText>, FilterError> {
        match self.raw(section, option, vars) {
            Some(raw) => self.interpolate(section, raw, vars, 1).map(Some),
            None => Ok(None),
        }
    }

    /// fail2ban's `get_ex`: `section/option` names reach other sections (`known/...` the
    /// replaced values), plain names are looked up in `section`.
    pub fn get_ex(
        &self,
        section: &str,
        option: &str,
        vars: Option<&'a Options>,
    ) -> Result<Option<SourcedText>, FilterError> {
        if let Some((sec, opt)) = split_section_option(option) {
            let tries: Vec<String> = match sec.to_lowercase().as_str() {
                "known" => vec![format!("{KNOWN_PREFIX}{section}"), section.to_string()],
                "default" => vec![DEFAULT_SECTION.to_string()],
                _ => vec![sec.to_string()],
            };
            for sec in tries {
                if let Some(v) = self.get(&sec, opt, None)? {
                    return Ok(Some(v));
                }
            }
        }
        self.get(section, option, vars)
    }

    /// Expands `%(...)s` in `value`, read in `section`.
    pub fn interpolate(
        &self,
        section: &str,
        value: &SourcedText,
        vars: Option<&'a Options>,
        depth: usize,
    ) -> Result<SourcedText, FilterError> {
        let text = value.as_str();
        let origin_at = |at: usize| value.origin_or_options(at);
        if depth > MAX_DEPTH {
            return Err(FilterError::config(
                &origin_at(0),
                format!("`%(...)s` references nest more than {MAX_DEPTH} deep in [{section}]; one of them probably refers back to itself"),
            ));
        }
        let mut out = SourcedText::new();
        let mut pos = 0;
        while let Some(found) = text[pos..].find('%') {
            let at = pos + found;
            out.push_slice(value, pos..at);
            let rest = &text[at..];
            if rest.starts_with("%%") {
                out.push_str("%", &origin_at(at));
                pos = at + 2;
                continue;
            }
            let name = rest
                .strip_prefix("%(")
                .and_then(|r| r.find(')').map(|close| &r[..close]))
                .filter(|name| !name.is_empty() && rest[2 + name.len()..].starts_with(")s"));
            let Some(name) = name else {
                return Err(FilterError::config(
                    &origin_at(at),
                    format!("`{}`: `%` must be followed by `%` or `(name)s`; write `%%` for a percent sign", rest.chars().take(30).collect::<String>()),
                ));
            };
            pos = at + 2 + name.len() + 2;
            let found = self.reference(section, name, vars);
            let Some(replacement) = found else {
                return Err(FilterError::config(
                    &origin_at(at),
                    format!("`%({name})s`: no option `{name}` in [{section}] or [DEFAULT]"),
                ));
            };
            if replacement.as_str().contains('%') {
                out.push(&self.interpolate(section, &replacement, vars, depth + 1)?);
            } else {
                out.push(&replacement);
            }
        }
        out.push_slice(value, pos..text.len());
        Ok(out)
    }

    /// The raw value `%(name)s` stands for in `section`.
    fn reference(
        &self,
        section: &str,
        name: &str,
        vars: Option<&'a Options>,
    ) -> Option<SourcedText> {
        let key = name.to_lowercase();
        if key == "__name__" {
            return Some(SourcedText::plain(section, &Origin::filter_options()));
        }
        if let Some(v) = self.raw(section, &key, vars) {
            return Some(v.clone());
        }
        // fail2ban maps `%(sec/opt)s` only when written in lower case (it stores the name
        // as written and looks it up lower-cased).
        let (sec, opt) = split_section_option(name).filter(|_| key == name)?;
        let from_defaults = || self.config.defaults.get(opt).cloned();
        match sec.to_lowercase().as_str() {
            "default" => from_defaults(),
            "known" => self
                .config
                .sections
                .get(&format!("{KNOWN_PREFIX}{section}"))
                .and_then(|s| s.get(opt))
                .cloned()
                .or_else(from_defaults),
            _ => {
                let other = self.config.sections.get(sec)?;
                other.get(opt).cloned().or_else(from_defaults)
            }
        }
    }
}

/// `sec/opt` with `sec` made of word characters and `-`.
fn split_section_option(name: &str) -> Option<(&str, &str)> {
    let (sec, opt) = name.split_once('/')?;
    let valid = !sec.is_empty()
        && sec
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
        && !opt.is_empty();
    valid.then_some((sec, opt))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::includes::read_filter_config;
    use crate::source::MemorySource;

    fn config(text: &str) -> Config {
        read_filter_config("f", &MemorySource::new().with("f.conf", text)).unwrap()
    }

    #[test]
    fn expands_references_defaults_and_percent_signs() {
        let cfg = config("[DEFAULT]\nd = D\n[s]\na = <%(b)s|%(d)s|%%|%(__name__)s>\nb = %(c)s!\nc = C\n[t]\nx = %(s/c)s %(t/d)s\n");
        let l = Lookup::new(&cfg);
        assert_eq!(
            l.get("s", "a", None).unwrap().unwrap().as_str(),
            "<C!|D|%|s>"
        );
        assert_eq!(l.get("t", "x", None).unwrap().unwrap().as_str(), "C D");
    }

    #[test]
    fn vars_win_over_the_file() {
        let cfg = config("[s]\na = %(mode)s\nmode = normal\n");
        let l = Lookup::new(&cfg);
        let mut vars = Options::new();
        let o = Origin::filter_options();
        vars.insert("mode".into(), SourcedText::plain("aggressive", &o));
        assert_eq!(
            l.get("s", "a", Some(&vars)).unwrap().unwrap().as_str(),
            "aggressive"
        );
    }

    #[test]
    fn errors_point_at_the_reference() {
        let cfg = config("[s]\na = x\n  y %(missing)s\nb = 5%\nc = %(c)s\n");
        let l = Lookup::new(&cfg);
        let e = l.get("s", "a", None).unwrap_err().to_string();
        assert!(e.starts_with("f.conf:3: `%(missing)s`: no option"), "{e}");
        let e = l.get("s", "b", None).unwrap_err().to_string();
        assert!(e.starts_with("f.conf:4: `%`: `%` must be followed"), "{e}");
        let e = l.get("s", "c", None).unwrap_err().to_string();
        assert!(e.contains("nest more than 10 deep"), "{e}");
    }

    #[test]
    fn known_reaches_the_replaced_value() {
        let src = MemorySource::new()
            .with("f.conf", "[Definition]\nfailregex = ^a <HOST>$\n")
            .with(
                "f.local",
                "[Definition]\nfailregex = %(known/failregex)s\n            ^b <HOST>$\n",
            );
        let cfg = read_filter_config("f", &src).unwrap();
        let v = Lookup::new(&cfg)
            .get("Definition", "failregex", None)
            .unwrap()
            .unwrap();
        assert_eq!(v.as_str(), "^a <HOST>$\n^b <HOST>$");
        assert_eq!(v.origin_at(0).unwrap().file.as_ref(), "f.conf");
        assert_eq!(v.origin_at(11).unwrap().file.as_ref(), "f.local");
    }
}
