//! Flags of the operations commands: metrics, serve, feeds, panic.

use super::PolicyArgs;
use clap::{value_parser, Args, Subcommand, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct MetricsArgs {
    /// Write the metrics to FILE, atomically, instead of standard output (for node_exporter's
    /// textfile collector: e.g. /var/lib/prometheus/node-exporter/palisade.prom).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// Download limits of feed updates.
#[derive(Args, Clone, Copy, Debug)]
pub struct FetchArgs {
    /// Give up a download that has not completed after SECONDS (DNS to the last byte).
    #[arg(long, value_name = "SECONDS", default_value_t = 60, value_parser = value_parser!(u64).range(1..=3600))]
    pub fetch_timeout: u64,
    /// Refuse a download larger than MIB mebibytes (after decompression).
    #[arg(long, value_name = "MIB", default_value_t = 128, value_parser = value_parser!(u64).range(1..=4096))]
    pub max_download: u64,
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    #[command(flatten)]
    pub policy: PolicyArgs,
    /// Serve metrics at ADDRESS:PORT instead of the config's `[metrics] listen`.
    #[arg(long, value_name = "ADDRESS:PORT")]
    pub listen: Option<SocketAddr>,
    #[command(flatten)]
    pub fetch: FetchArgs,
    /// Look at the geolocation databases' files every SECONDS, and rebuild the country and AS
    /// sets of one that changed.
    #[arg(long, value_name = "SECONDS", default_value_t = 30, value_parser = value_parser!(u64).range(1..=86400))]
    pub geo_check: u64,
}

#[derive(Subcommand, Debug)]
pub enum FeedsCommand {
    /// Fetch the feeds (sets with `urls`) once, all or SET's, and load what changed; exit 1 if
    /// a download failed or was refused.
    Update(FeedsUpdateArgs),
    /// When each feed was fetched, what came, and how old each set's copy is.
    Status(FeedsStatusArgs),
}

#[derive(Args, Debug)]
pub struct FeedsUpdateArgs {
    /// Only this set.
    pub set: Option<String>,
    #[command(flatten)]
    pub policy: PolicyArgs,
    #[command(flatten)]
    pub fetch: FetchArgs,
}

#[derive(Args, Debug)]
pub struct FeedsStatusArgs {
    #[command(flatten)]
    pub policy: PolicyArgs,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct PanicArgs {
    /// `on` (the default) drops everything but loopback and your SSH session; `off` restores
    /// what was applied before.
    #[arg(value_enum, default_value = "on")]
    pub switch: PanicSwitch,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PanicSwitch {
    On,
    Off,
}
