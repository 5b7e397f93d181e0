//! Typed errors of the netlink layer.

use std::io;

#[derive(Debug, thiserror::Error)]
pub enum NftError {
    #[error("netlink socket: {0}")]
    Io(#[from] io::Error),
    /// The kernel refused a message; `what` names the object (and element) it was about.
    #[error("the kernel refused {what}: {reason}")]
    Kernel {
        what: String,
        errno: i32,
        reason: String,
    },
    /// The batch carried a generation id and the ruleset changed since it was read.
    #[error("the ruleset changed while palisade was reading it")]
    GenerationChanged,
    #[error("netlink protocol error: {0}")]
    Protocol(String),
}

impl NftError {
    /// The kernel's errno, for callers that react to specific failures (ENOENT, EEXIST, ...).
    pub fn errno(&self) -> Option<i32> {
        match self {
            NftError::Kernel { errno, .. } => Some(*errno),
            NftError::Io(e) => e.raw_os_error(),
            _ => None,
        }
    }
}

pub type Result<T, E = NftError> = std::result::Result<T, E>;

/// "No such file or directory" and the like, plus the kernel's own explanation if it gave one.
pub(crate) fn describe_errno(errno: i32, kernel_msg: Option<&str>) -> String {
    let base = io::Error::from_raw_os_error(errno).to_string();
    let base = base.split(" (os error").next().unwrap_or(&base).to_string();
    match kernel_msg {
        Some(m) if !m.is_empty() => format!("{base} ({m})"),
        _ => base,
    }
}
