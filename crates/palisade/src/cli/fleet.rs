//! Flags of `palisade fleet`: sharing bans and blocklists with other hosts over NATS.

use super::PolicyArgs;
use clap::{Args, Subcommand};
use std::path::PathBuf;

#[derive(Subcommand, Debug)]
pub enum FleetCommand {
    /// Run the fleet daemon: apply peers' bans to the kernel (set `fleet`) and share this
    /// host's bans (log watcher, `block`, flood limits) and lists, as `[fleet]` says.
    Run(PolicyArgs),
    /// The running daemon's connection, peers, lag, events in and out, drops by reason and
    /// last error (exit code 1 if it is not running).
    Status(FleetStatusArgs),
    /// Drop every ban HOST sent from the kernel, and tell the running daemon.
    Forget(ForgetArgs),
    /// Make this host's signing key and print its public key for the peers' trust lists.
    Keygen(KeygenArgs),
    /// Make this host's NATS NKey (`nkey_file` in [fleet]) and print its public key for the
    /// servers' `authorization` block.
    Nkey(NkeyArgs),
}

#[derive(Args, Debug)]
pub struct FleetStatusArgs {
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct ForgetArgs {
    /// The peer's host name, as in `[fleet.peers]`.
    #[arg(value_name = "HOST")]
    pub host: String,
}

#[derive(Args, Debug)]
pub struct KeygenArgs {
    /// Where the key goes (`key_file` in `[fleet]`); an existing key is never overwritten.
    #[arg(long, value_name = "FILE", default_value = "/etc/palisade/fleet.key")]
    pub key_file: PathBuf,
    /// This host's name on the bus [default: the host name up to its first dot].
    #[arg(long, value_name = "NAME")]
    pub host: Option<String>,
    /// Only print the public key of the existing key file.
    #[arg(long)]
    pub public: bool,
}

#[derive(Args, Debug)]
pub struct NkeyArgs {
    /// Where the NKey seed goes (`nkey_file` in `[fleet]`); an existing one is never
    /// overwritten.
    #[arg(long, value_name = "FILE", default_value = "/etc/palisade/nats.nk")]
    pub nkey_file: PathBuf,
    /// Only print the public key of the existing NKey file.
    #[arg(long)]
    pub public: bool,
}
