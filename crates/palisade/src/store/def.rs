//! What a palisade set is: its definition, and elements with the time they have left.

use palisade_core::{is_valid_name, AddrRange, ProtoPort};
use std::time::Duration;

use super::error::{Result, StoreError};

/// What happens to packets from a set's sources.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BlockAction {
    Drop,
    Reject,
}

impl BlockAction {
    pub fn as_str(self) -> &'static str {
        match self {
            BlockAction::Drop => "drop",
            BlockAction::Reject => "reject",
        }
    }
}

impl std::str::FromStr for BlockAction {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "drop" => Ok(Self::Drop),
            "reject" => Ok(Self::Reject),
            _ => Err(format!("`{s}`: expected drop or reject")),
        }
    }
}

/// An element for a set's recent part, with the time it has left.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Timed {
    pub addr: AddrRange,
    pub port: Option<ProtoPort>,
    pub remaining: Option<Duration>,
    pub comment: Option<String>,
}

/// A palisade set's definition.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SetDef {
    pub name: String,
    pub with_ports: bool,
    pub block: Option<BlockAction>,
    #[serde(skip)]
    pub default_timeout: Option<Duration>,
    /// The kernel adds to it from the packet path (bans on exceed), into the singles part.
    pub dynamic: bool,
}

impl SetDef {
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_string(),
            with_ports: false,
            block: None,
            default_timeout: None,
            dynamic: false,
        }
    }
}

/// Set names follow palisade's one rule for names (see [`palisade_core::is_valid_name`]).
pub fn validate_name(name: &str) -> Result<()> {
    if is_valid_name(name) {
        Ok(())
    } else {
        Err(StoreError::BadName(name.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(validate_name("blocklist").is_ok());
        assert!(validate_name("a b").is_err());
        assert!(validate_name("").is_err());
        assert!(validate_name(&"x".repeat(61)).is_err());
    }
}
