//! The default-deny policy: config file, compiler, evaluator and lints.
//!
//! - [`config`]: the TOML file, validated into a [`Policy`], with errors naming file, line and
//!   key.
//! - [`compile`]: a [`Policy`] into the [`Ruleset`] palisade's table holds.
//! - [`explain`]: which rule of a [`Ruleset`] decides a packet.
//! - [`lint`]: lockout risks and other warnings for `check`.

pub mod compile;
pub mod config;
pub mod explain;
pub mod flood;
pub mod lint;
pub mod rate;
pub mod ruleset;
pub mod services;

pub use compile::{compile, Context, Session};
pub use config::{parse_config, ConfigError, GeoFiles, Policy, XdpMode, XdpSettings, ALLOWLIST};
pub use explain::{explain, BlockKind, BlockSet, DecidedBy, Decision, Membership, Packet, Verdict};
pub use lint::{lint, HostFacts, Lint, Severity};
pub use ruleset::*;
pub use services::{PortProto, PortRange, Services};

#[cfg(test)]
mod tests;
