//! The one place this crate touches the file system: reading filter files from a
//! directory (normally `/etc/fail2ban/filter.d`). Everything else works on the text.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use crate::error::SourceError;
use crate::source::FilterSource;

/// Filter files under a directory; absolute paths are read as they are.
#[derive(Clone, Debug)]
pub struct DirSource {
    root: PathBuf,
}

impl DirSource {
    /// fail2ban's own filter directory.
    pub const FAIL2BAN_FILTER_DIR: &'static str = "/etc/fail2ban/filter.d";

    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
}

impl FilterSource for DirSource {
    fn read(&self, path: &str) -> Result<Option<String>, SourceError> {
        let full = self.root.join(path);
        match std::fs::read(&full) {
            Ok(bytes) => String::from_utf8(bytes).map(Some).map_err(|e| SourceError {
                message: format!(
                    "{}: not UTF-8 (byte {}); fail2ban reads filters as UTF-8",
                    full.display(),
                    e.utf8_error().valid_up_to()
                ),
            }),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            // fail2ban skips what it cannot open as a file (a directory named like an include).
            Err(e) if e.kind() == ErrorKind::IsADirectory => Ok(None),
            Err(e) => Err(SourceError {
                message: format!("{}: {e}", full.display()),
            }),
        }
    }

    fn list(&self, dir: &str) -> Result<Vec<String>, SourceError> {
        let full = self.root.join(dir);
        let entries = match std::fs::read_dir(&full) {
            Ok(entries) => entries,
            Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => {
                return Ok(Vec::new())
            }
            Err(e) => {
                return Err(SourceError {
                    message: format!("{}: {e}", full.display()),
                })
            }
        };
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| SourceError {
                message: format!("{}: {e}", full.display()),
            })?;
            if let Some(name) = entry.file_name().to_str() {
                names.push(name.to_string());
            }
        }
        Ok(names)
    }
}
