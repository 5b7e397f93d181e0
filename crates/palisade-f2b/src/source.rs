//! Where filter files come from, kept behind a trait so that this crate makes no system
//! calls: the daemon hands in a [`crate::DirSource`] over `/etc/fail2ban/filter.d`, tests
//! hand in a [`MemorySource`].

use std::collections::BTreeMap;

use crate::error::SourceError;

/// Reads filter files by path: relative paths are relative to the filter directory
/// (`sshd.conf`, `common.local`), absolute ones are used as they are.
pub trait FilterSource {
    /// The file's text, `None` if there is no such file (fail2ban skips missing includes
    /// such as `common.local` silently).
    fn read(&self, path: &str) -> Result<Option<String>, SourceError>;

    /// Names of the files in directory `dir` (for `NAME.d/*.conf` and `*.local`), empty
    /// if it does not exist.
    fn list(&self, dir: &str) -> Result<Vec<String>, SourceError> {
        let _ = dir;
        Ok(Vec::new())
    }
}

/// Files held in memory, by path: for tests and for filters shipped inside palisade.
#[derive(Clone, Debug, Default)]
pub struct MemorySource {
    files: BTreeMap<String, String>,
}

impl MemorySource {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a file.
    pub fn with(mut self, path: &str, text: &str) -> Self {
        self.files.insert(path.to_string(), text.to_string());
        self
    }
}

impl FilterSource for MemorySource {
    fn read(&self, path: &str) -> Result<Option<String>, SourceError> {
        Ok(self.files.get(path).cloned())
    }

    fn list(&self, dir: &str) -> Result<Vec<String>, SourceError> {
        let prefix = format!("{}/", dir.trim_end_matches('/'));
        Ok(self
            .files
            .keys()
            .filter_map(|p| p.strip_prefix(&prefix))
            .filter(|rest| !rest.contains('/'))
            .map(str::to_string)
            .collect())
    }
}

/// `dir` joined with `name` as fail2ban's `os.path.join` does: an absolute `name` wins.
pub fn join_path(dir: &str, name: &str) -> String {
    if name.starts_with('/') || dir.is_empty() {
        name.to_string()
    } else {
        format!("{}/{name}", dir.trim_end_matches('/'))
    }
}

/// The directory part of `path` (`""` for a bare name).
pub fn dir_name(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) => "/",
        Some(at) => &path[..at],
        None => "",
    }
}

/// `path` without its extension (`a/b.conf` → `a/b`), as Python's `os.path.splitext`.
pub fn strip_extension(path: &str) -> &str {
    let file_start = path.rfind('/').map_or(0, |at| at + 1);
    match path[file_start..].rfind('.') {
        Some(dot) if dot > 0 => &path[..file_start + dot],
        _ => path,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_join_like_python() {
        assert_eq!(join_path("", "common.conf"), "common.conf");
        assert_eq!(join_path("sub", "common.conf"), "sub/common.conf");
        assert_eq!(join_path("sub", "/etc/x.conf"), "/etc/x.conf");
        assert_eq!(dir_name("a/b/c.conf"), "a/b");
        assert_eq!(dir_name("c.conf"), "");
        assert_eq!(strip_extension("a.b/c.conf"), "a.b/c");
        assert_eq!(strip_extension("a.b/c"), "a.b/c");
        assert_eq!(strip_extension(".hidden"), ".hidden");
    }

    #[test]
    fn memory_source_lists_one_directory() {
        let s = MemorySource::new()
            .with("x.d/a.conf", "")
            .with("x.d/sub/b.conf", "")
            .with("y.conf", "");
        assert_eq!(s.list("x.d").unwrap(), vec!["a.conf".to_string()]);
    }
}
