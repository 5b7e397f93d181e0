//! Command-line definitions: every flag is defined once here, with its help; the man page and
//! shell completions (`palisade generate`) are generated from the same definitions.
//!
//! Values with a fixed set of choices are clap `ValueEnum`s, so they are parsed (and refused
//! with the list of choices) by clap, and the commands get typed values.

mod fleet;
mod ops;
mod otp;
mod policy;
mod sets;
mod watch;
mod xdp;

pub use fleet::*;
pub use ops::*;
pub use otp::*;
pub use policy::*;
pub use sets::*;
pub use watch::*;
pub use xdp::*;

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "palisade",
    version,
    about = "Protects Linux servers through the kernel's nftables",
    long_about = "palisade protects a Linux server through the kernel's own nftables engine: \
mass-blocking with kernel sets, a default-deny policy applied atomically with confirm-or-rollback, \
persistence at boot, flood limits with kernel-side bans, log-watching bans and one-time passwords \
for SSH, from one config file (/etc/palisade/palisade.toml)."
)]
pub struct Cli {
    /// Work inside the named network namespace (`ip netns` name) instead of the current one.
    #[arg(long, global = true, value_name = "NAME")]
    pub netns: Option<String>,
    /// Print only errors.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Print timings and details.
    #[arg(short, long, global = true)]
    pub verbose: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Named sets of addresses and networks (IPv4 and IPv6 together), matched by one rule each.
    #[command(subcommand)]
    Set(SetCommand),
    /// Block addresses or networks: add them to the built-in `blocklist` set, dropped on input.
    Block(BlockArgs),
    /// Remove addresses or networks from the built-in `blocklist` set.
    Unblock(UnblockArgs),
    /// One-time passwords for SSH (OTPW-compatible sheets, checked by pam_palisade.so).
    #[command(subcommand)]
    Otp(OtpCommand),
    /// Validate the policy config and warn about lockout risks.
    Check(PolicyArgs),
    /// Show what `apply` would change, against what the kernel holds.
    Plan(PolicyArgs),
    /// Apply the policy in one transaction; with --confirm, roll back unless confirmed.
    Apply(ApplyArgs),
    /// Keep a policy applied with --confirm (and save it for boot).
    Confirm,
    /// Go back to the state before the last apply.
    Rollback,
    /// What is applied, since when, from where; counters per rule and per set.
    Status(StatusArgs),
    /// Which rule decides a given packet, and why.
    Explain(ExplainArgs),
    /// Save the applied state (policy, sets, remaining timeouts) [default: STATE_DIR/saved.state].
    Save { file: Option<PathBuf> },
    /// Restore a saved state, as boot does; if it cannot be loaded, put up a safe policy.
    Restore { file: Option<PathBuf> },
    /// Follow logs and ban sources that fail too often (the jails of the config).
    Watch(WatchArgs),
    /// Who the log watcher banned, why, since and until.
    Bans(BansArgs),
    /// Lift log-watcher bans now (from the kernel and the watcher's state).
    Unban(UnbanArgs),
    /// XDP early drop: listed sources dropped in the network driver, kept in step with the sets.
    #[command(subcommand)]
    Xdp(XdpCommand),
    /// Share bans and blocklists with other hosts over NATS JetStream (`[fleet]`).
    #[command(subcommand)]
    Fleet(FleetCommand),
    /// Print metrics in the Prometheus text format (once; `serve` serves them over HTTP).
    Metrics(MetricsArgs),
    /// Serve metrics at `[metrics] listen`, keep feeds current and rebuild country sets when
    /// their database changes (packaging/palisade-serve.service).
    Serve(ServeArgs),
    /// Blocklist feeds: sets whose lists are downloaded from URLs.
    #[command(subcommand)]
    Feeds(FeedsCommand),
    /// Drop everything but loopback and your own SSH session, at once; `panic off` restores.
    Panic(PanicArgs),
    /// Print the man page or shell completions, generated from these definitions.
    Generate(GenerateArgs),
    /// (internal) the timer behind `apply --confirm`.
    #[command(hide = true)]
    ConfirmTimer { token: u64, seconds: u64 },
}

#[derive(Args, Debug)]
pub struct GenerateArgs {
    #[arg(value_enum)]
    pub what: Generated,
}

/// What `palisade generate` prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Generated {
    /// The palisade(8) man page, in roff.
    Man,
    Bash,
    Zsh,
    Fish,
}

impl Cli {
    pub fn parse_args() -> Self {
        Parser::parse()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn definitions_are_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn choices_are_parsed_by_clap() {
        let bad = Cli::try_parse_from([
            "palisade",
            "explain",
            "--from",
            "192.0.2.1",
            "--to",
            "192.0.2.2",
            "--proto",
            "gre",
        ]);
        let e = bad.unwrap_err().to_string();
        assert!(e.contains("tcp") && e.contains("icmpv6"), "{e}");
        let ok = Cli::try_parse_from([
            "palisade",
            "explain",
            "--from",
            "192.0.2.1",
            "--to",
            "192.0.2.2",
            "--direction",
            "in",
        ]);
        assert!(ok.is_ok());
    }
}
