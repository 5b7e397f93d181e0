//! What can go wrong in the store, in words an admin can act on.

use palisade_core::NAME_RULE;
use palisade_nft::NftError;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no palisade set named `{0}` (see `palisade set list`)")]
    NoSuchSet(String),
    #[error("a palisade set named `{0}` already exists")]
    Exists(String),
    #[error("`{0}` is not a valid set name: use {NAME_RULE}")]
    BadName(String),
    #[error("set `{set}` {problem}")]
    Mismatch { set: String, problem: String },
    #[error("set `{set}` is in use by {users}: remove it from the config and run `palisade apply` first")]
    InUse { set: String, users: String },
    #[error(transparent)]
    Kernel(#[from] NftError),
}

pub type Result<T> = std::result::Result<T, StoreError>;

impl StoreError {
    /// The kernel error underneath, if any.
    pub fn nft(&self) -> Option<&NftError> {
        match self {
            StoreError::Kernel(e) => Some(e),
            _ => None,
        }
    }

    /// Another process changed the ruleset between our read and our commit.
    pub fn is_generation_change(&self) -> bool {
        matches!(self, StoreError::Kernel(NftError::GenerationChanged))
    }
}
