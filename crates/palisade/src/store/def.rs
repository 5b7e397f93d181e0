//! What a palisade set is: its definition, and elements with the time they have left.

use palisade_core::policy::SetDirection;
use palisade_core::{is_valid_name, AddrRange, ProtoPort};
use std::time::Duration;

use super::error::{Result, StoreError};

/// What happens to packets from a set's sources.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BlockAction {
    Drop,
    Reject,
    /// An allowlist: what it holds is never dropped by a block set, ban or fleet ban.
    Allow,
}

impl BlockAction {
    pub fn as_str(self) -> &'static str {
        match self {
            BlockAction::Drop => "drop",
            BlockAction::Reject => "reject",
            BlockAction::Allow => "allow",
        }
    }
}

impl std::str::FromStr for BlockAction {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "drop" => Ok(Self::Drop),
            "reject" => Ok(Self::Reject),
            "allow" => Ok(Self::Allow),
            _ => Err(format!("`{s}`: expected drop, reject or allow")),
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
    /// Whether it matches packets' sources, destinations or both.
    #[serde(serialize_with = "direction_name")]
    pub direction: SetDirection,
    /// Prefix lengths of its hash parts (IPv4, IPv6), as the kernel holds them now.
    #[serde(skip)]
    pub prefixes: (Vec<u8>, Vec<u8>),
}

fn direction_name<S: serde::Serializer>(
    d: &SetDirection,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(d.name())
}

impl SetDef {
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_string(),
            with_ports: false,
            block: None,
            default_timeout: None,
            dynamic: false,
            direction: SetDirection::In,
            prefixes: (Vec::new(), Vec::new()),
        }
    }

    /// Every part of family `T` of this set, its hash parts included.
    pub fn parts<T: super::kernel_addr::KernelAddr>(&self) -> Vec<super::layout::Part> {
        let prefixes = if T::BITS == 32 {
            &self.prefixes.0
        } else {
            &self.prefixes.1
        };
        super::layout::parts_with(prefixes)
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
