//! Flags of the log watcher's commands.

use super::PolicyArgs;
use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct WatchArgs {
    #[command(flatten)]
    pub policy: PolicyArgs,
    /// Read the followed files from their start, not their end.
    #[arg(long)]
    pub from_start: bool,
    /// Check the jails against a log file offline and print what would be banned.
    #[arg(long, value_name = "FILE")]
    pub test: Option<PathBuf>,
    /// With --test: only this jail.
    #[arg(long, value_name = "NAME")]
    pub jail: Option<String>,
}

#[derive(Args, Debug)]
pub struct BansArgs {
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub policy: PolicyArgs,
}

#[derive(Args, Debug)]
pub struct UnbanArgs {
    #[arg(required = true, value_name = "ADDRESS|NETWORK")]
    pub addresses: Vec<String>,
    #[command(flatten)]
    pub policy: PolicyArgs,
}
