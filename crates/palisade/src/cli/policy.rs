//! Flags of the policy commands: check, plan, apply, status, explain.

use clap::{Args, ValueEnum};
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct PolicyArgs {
    /// The policy config.
    #[arg(
        short,
        long,
        value_name = "FILE",
        default_value = "/etc/palisade/palisade.toml"
    )]
    pub config: PathBuf,
}

#[derive(Args, Debug)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub policy: PolicyArgs,
    /// Restore the previous state after SECONDS unless `palisade confirm` is run.
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    pub confirm: Option<u64>,
}

#[derive(Args, Debug)]
pub struct StatusArgs {
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

/// A packet's protocol, for `explain`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ProtoArg {
    Tcp,
    Udp,
    Icmp,
    Icmpv6,
}

/// Which way a packet goes, for `explain`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DirectionArg {
    #[value(alias = "in")]
    Input,
    #[value(alias = "out")]
    Output,
    Forward,
}

/// A packet's connection-tracking state, for `explain`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum StateArg {
    New,
    Established,
    Related,
    Invalid,
    Untracked,
}

#[derive(Args, Debug)]
pub struct ExplainArgs {
    /// The packet's protocol.
    #[arg(long, value_enum, default_value = "tcp")]
    pub proto: ProtoArg,
    /// Source address.
    #[arg(long)]
    pub from: std::net::IpAddr,
    /// Destination address.
    #[arg(long)]
    pub to: std::net::IpAddr,
    #[arg(long)]
    pub sport: Option<u16>,
    #[arg(long)]
    pub dport: Option<u16>,
    /// ICMP type (default echo request).
    #[arg(long)]
    pub icmp_type: Option<u8>,
    /// Connection state.
    #[arg(long, value_enum, default_value = "new")]
    pub state: StateArg,
    /// Which way the packet goes.
    #[arg(long, value_enum, default_value = "input")]
    pub direction: DirectionArg,
    /// Incoming interface [default: eth0 for input and forward].
    #[arg(long)]
    pub iif: Option<String>,
    /// Outgoing interface [default: eth0 for output and forward].
    #[arg(long)]
    pub oif: Option<String>,
    /// Explain against this config instead of the applied policy.
    #[arg(short, long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}
