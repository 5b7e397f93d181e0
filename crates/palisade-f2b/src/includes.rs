//! The files a filter is made of, and how fail2ban merges them.
//!
//! A filter `NAME` is `NAME.conf`, then `NAME.d/*.conf`, then `NAME.local`, then
//! `NAME.d/*.local` (the admin's overrides, kept out of the package's files). Each file may
//! say `[INCLUDES] before = ...` / `after = ...`: files read before or after it, relative to
//! its own directory, each again followed by its `.local` if there is one. A missing
//! include is skipped without a word (that is how `after = common.local` works); a file
//! included from itself is read once.
//!
//! The files are then merged in that order: `[DEFAULT]` options and each section's options
//! are overwritten by later files. When a later file overwrites an option, the value it
//! replaced is kept in section `KNOWN/<section>`, so the later file can extend it with
//! `%(known/option)s`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::error::FilterError;
use crate::ini::{parse_ini, IniFile, Options};
use crate::source::{dir_name, join_path, strip_extension, FilterSource};

/// The merged options of all a filter's files.
#[derive(Clone, Debug, Default)]
pub struct Config {
    pub defaults: Options,
    /// By section name, including the `KNOWN/<name>` sections of replaced values.
    pub sections: BTreeMap<String, Options>,
    /// The files read, in order.
    pub files: Vec<String>,
}

/// How deep includes may nest (fail2ban's own filters use two levels).
const MAX_INCLUDE_DEPTH: usize = 16;

/// The prefix of the sections holding values that a later file replaced.
pub const KNOWN_PREFIX: &str = "KNOWN/";

/// Reads the filter whose path without extension is `base` (`sshd`, `/x/y/sshd`).
pub fn read_filter_config(base: &str, source: &dyn FilterSource) -> Result<Config, FilterError> {
    let mut reader = Reader {
        source,
        parsed: HashMap::new(),
    };
    let mut candidates = vec![format!("{base}.conf")];
    let dir = format!("{base}.d");
    let listed = source.list(&dir).map_err(|e| FilterError::Read {
        file: dir.clone(),
        message: e.message,
    })?;
    let mut sorted: Vec<&String> = listed.iter().collect();
    sorted.sort();
    candidates.extend(
        sorted
            .iter()
            .filter(|n| n.ends_with(".conf"))
            .map(|n| join_path(&dir, n)),
    );
    candidates.push(format!("{base}.local"));
    candidates.extend(
        sorted
            .iter()
            .filter(|n| n.ends_with(".local"))
            .map(|n| join_path(&dir, n)),
    );
    let mut existing = Vec::new();
    for path in candidates {
        if reader.parse(&path)?.is_some() {
            existing.push(path);
        }
    }
    if existing.is_empty() {
        return Err(FilterError::NotFound {
            name: base.to_string(),
            tried: format!("{base}.conf"),
        });
    }
    let order = reader.includes(&existing, &[])?;
    let mut config = Config::default();
    for path in order {
        let Some(ini) = reader.parse(&path)? else {
            continue;
        };
        merge(&mut config, &ini);
        config.files.push(path);
    }
    Ok(config)
}

struct Reader<'a> {
    source: &'a dyn FilterSource,
    /// Parsed files by path (`None`: no such file).
    parsed: HashMap<String, Option<Arc<IniFile>>>,
}

impl Reader<'_> {
    fn parse(&mut self, path: &str) -> Result<Option<Arc<IniFile>>, FilterError> {
        if let Some(done) = self.parsed.get(path) {
            return Ok(done.clone());
        }
        let text = self.source.read(path).map_err(|e| FilterError::Read {
            file: path.to_string(),
            message: e.message,
        })?;
        let ini = match text {
            Some(text) => Some(Arc::new(parse_ini(&Arc::from(path), &text)?)),
            None => None,
        };
        self.parsed.insert(path.to_string(), ini.clone());
        Ok(ini)
    }

    /// `files`, each followed by its `.local`, each with its includes around it.
    fn includes(&mut self, files: &[String], seen: &[String]) -> Result<Vec<String>, FilterError> {
        if seen.len() > MAX_INCLUDE_DEPTH {
            return Err(FilterError::Read {
                file: seen.last().cloned().unwrap_or_default(),
                message: format!(
                    "includes nest more than {MAX_INCLUDE_DEPTH} deep ({}); two files probably include each other through a .local",
                    seen.join(" -> ")
                ),
            });
        }
        let mut expanded: Vec<String> = Vec::new();
        for file in files {
            expanded.push(file.clone());
            let local = format!("{}.local", strip_extension(file));
            if !files.contains(&local) && self.parse(&local)?.is_some() {
                expanded.push(local);
            }
        }
        let mut out = Vec::new();
        for file in expanded {
            out.extend(self.includes_of(&file, seen)?);
        }
        Ok(out)
    }

    /// `before` includes, the file, `after` includes (nothing if the file is missing).
    fn includes_of(&mut self, file: &str, seen: &[String]) -> Result<Vec<String>, FilterError> {
        let Some(ini) = self.parse(file)? else {
            return Ok(Vec::new());
        };
        let mut lists = [Vec::new(), Vec::new()];
        if let Some(includes) = ini.section("INCLUDES") {
            for (list, key) in lists.iter_mut().zip(["before", "after"]) {
                let Some(value) = includes.get(key) else {
                    continue;
                };
                for name in value.as_str().split('\n').filter(|n| !n.is_empty()) {
                    let path = join_path(dir_name(file), name);
                    if seen.contains(&path) {
                        continue;
                    }
                    let mut deeper = seen.to_vec();
                    deeper.push(file.to_string());
                    list.extend(self.includes(&[path], &deeper)?);
                }
            }
        }
        let [mut before, after] = lists;
        before.push(file.to_string());
        before.extend(after);
        Ok(before)
    }
}

/// Merges one file into the config, keeping replaced values under `KNOWN/<section>`.
fn merge(config: &mut Config, ini: &IniFile) {
    for (k, v) in &ini.defaults {
        config.defaults.insert(k.clone(), v.clone());
    }
    for (name, options) in &ini.sections {
        match config.sections.get_mut(name) {
            Some(existing) => {
                let replaced: Options = existing
                    .iter()
                    .filter(|(k, _)| options.contains_key(*k))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                for (k, v) in options {
                    existing.insert(k.clone(), v.clone());
                }
                config
                    .sections
                    .entry(format!("{KNOWN_PREFIX}{name}"))
                    .or_default()
                    .extend(replaced);
            }
            None => {
                config.sections.insert(name.clone(), options.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::MemorySource;

    #[test]
    fn order_is_before_file_local_after_and_local_files_are_read() {
        let src = MemorySource::new()
            .with(
                "f.conf",
                "[INCLUDES]\nbefore = common.conf\nafter = tail.conf\n[Definition]\nx = f\n",
            )
            .with("common.conf", "[DEFAULT]\nx = common\n")
            .with("common.local", "[DEFAULT]\nx = common-local\n")
            .with("tail.conf", "[Definition]\ny = tail\n")
            .with("f.local", "[Definition]\nx = local\n")
            .with("f.d/a.conf", "[Definition]\nz = a\n");
        let cfg = read_filter_config("f", &src).unwrap();
        assert_eq!(
            cfg.files,
            [
                "common.conf",
                "common.local",
                "f.conf",
                "tail.conf",
                "f.d/a.conf",
                "f.local"
            ]
        );
        assert_eq!(cfg.defaults["x"].as_str(), "common-local");
        let def = &cfg.sections["Definition"];
        assert_eq!(def["x"].as_str(), "local");
        assert_eq!(def["z"].as_str(), "a");
        assert_eq!(cfg.sections["KNOWN/Definition"]["x"].as_str(), "f");
    }

    #[test]
    fn self_inclusion_is_read_once_and_missing_includes_are_skipped() {
        let src = MemorySource::new()
            .with(
                "a.conf",
                "[INCLUDES]\nbefore = b.conf\n  missing.conf\n[s]\nk = a\n",
            )
            .with("b.conf", "[INCLUDES]\nbefore = a.conf\n[s]\nk = b\n");
        let cfg = read_filter_config("a", &src).unwrap();
        assert_eq!(cfg.files, ["b.conf", "a.conf"]);
    }

    #[test]
    fn include_loops_through_local_files_end_in_an_error() {
        let src = MemorySource::new()
            .with("t.conf", "[INCLUDES]\nbefore = t.conf\n")
            .with("t.local", "[INCLUDES]\nbefore = t.conf\n");
        let e = read_filter_config("t", &src).unwrap_err();
        assert!(e.to_string().contains("includes nest more than"), "{e}");
    }

    #[test]
    fn missing_filter_is_an_error_naming_it() {
        let e = read_filter_config("nope", &MemorySource::new()).unwrap_err();
        assert!(e.to_string().contains("`nope.conf`"), "{e}");
    }

    #[test]
    fn syntax_errors_in_includes_name_the_include() {
        let src = MemorySource::new()
            .with("f.conf", "[INCLUDES]\nbefore = c.conf\n")
            .with("c.conf", "[DEFAULT]\nbroken line\n");
        let e = read_filter_config("f", &src).unwrap_err();
        assert!(e.to_string().starts_with("c.conf:2:"), "{e}");
    }
}
