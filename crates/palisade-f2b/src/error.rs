//! What can go wrong loading a filter, said so an admin can fix it: the file and line, what
//! is wrong there, and what to do.

use crate::sourced::Origin;

/// Why a filter was not loaded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    /// The `name[opt=val, ...]` text itself.
    #[error("filter `{spec}`: {problem}")]
    Spec { spec: String, problem: String },
    /// Neither `NAME.conf` nor `NAME.local` exists.
    #[error("filter `{name}`: no file `{tried}` (looked for the .conf and .local files fail2ban reads); check the name and the filter directory")]
    NotFound { name: String, tried: String },
    /// A file exists but could not be read.
    #[error("{file}: cannot read: {message}")]
    Read { file: String, message: String },
    /// Syntax of the ini file, interpolation, tags, option values.
    #[error("{origin}: {problem}")]
    Config { origin: Origin, problem: String },
    /// A problem with no line to point at (an option missing from every file).
    #[error("filter `{name}`: {problem}")]
    Filter { name: String, problem: String },
    /// A regex that cannot be used as written.
    #[error("{origin}: {option} `{regex}`: {problem}")]
    Regex {
        origin: Origin,
        /// `failregex`, `ignoreregex`, `prefregex` or `datepattern`.
        option: String,
        /// The regex after interpolation, as fail2ban would compile it.
        regex: String,
        problem: String,
    },
}

impl FilterError {
    pub(crate) fn config(origin: &Origin, problem: impl Into<String>) -> Self {
        Self::Config {
            origin: origin.clone(),
            problem: problem.into(),
        }
    }
}

/// A [`crate::FilterSource`] could not read a file that exists.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SourceError {
    pub message: String,
}
