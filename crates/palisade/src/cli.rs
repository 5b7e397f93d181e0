//! Command-line definitions: flags are defined once here, with their help.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(name = "palisade", version, about = "Protects Linux servers through the kernel's nftables", long_about = None)]
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
    /// Show palisade at work in throw-away network namespaces (changes nothing on this host).
    Demo(DemoArgs),
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
    Bans {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        policy: PolicyArgs,
    },
    /// Lift log-watcher bans now (from the kernel and the watcher's state).
    Unban {
        #[arg(required = true, value_name = "ADDRESS|NETWORK")]
        addresses: Vec<String>,
        #[command(flatten)]
        policy: PolicyArgs,
    },
    /// (internal) the timer behind `apply --confirm`.
    #[command(hide = true)]
    ConfirmTimer { token: u64, seconds: u64 },
}

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
pub struct ApplyArgs {
    #[command(flatten)]
    pub policy: PolicyArgs,
    /// Restore the previous state after SECONDS unless `palisade confirm` is run.
    #[arg(long, value_name = "SECONDS")]
    pub confirm: Option<u64>,
}

#[derive(Args, Debug)]
pub struct StatusArgs {
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct ExplainArgs {
    /// tcp, udp, icmp or icmpv6.
    #[arg(long, default_value = "tcp")]
    pub proto: String,
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
    /// Connection state: new, established, related, invalid or untracked.
    #[arg(long, default_value = "new")]
    pub state: String,
    /// input, output or forward.
    #[arg(long, default_value = "input")]
    pub direction: String,
    /// Incoming interface [default: eth0 for input and forward].
    #[arg(long)]
    pub iif: Option<String>,
    /// Outgoing interface [default: eth0 for output and forward].
    #[arg(long)]
    pub oif: Option<String>,
    /// Explain against this config instead of the applied policy.
    #[arg(short, long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand, Debug)]
pub enum SetCommand {
    /// Create a set.
    Create(CreateArgs),
    /// Remove a set and its rules.
    Destroy { name: String },
    /// Remove every element of a set.
    Flush { name: String },
    /// Add addresses, networks (`10.0.0.0/8`), ranges (`a-b`) or, for port sets, `ADDR,tcp:PORT`.
    Add(AddArgs),
    /// Remove elements; part of a network splits it.
    Del(DelArgs),
    /// Exit 0 if ADDRESS is in the set, 1 if not, 2 on error.
    Test(TestArgs),
    /// Show sets: counts per family, addresses covered, estimated kernel memory.
    List(ListArgs),
    /// Make a set hold exactly the union of the files, changing only the difference, atomically.
    Load(LoadArgs),
    /// Print a set's contents, merged into networks.
    Export(ExportArgs),
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    /// Letters, digits, `-` and `_`; at most 60 characters.
    pub name: String,
    /// Default timeout for elements added singly (`set add`, `block`) without one
    /// (e.g. `10m`, `1h30m`, `2d`); what `set load` loads stays until the next load.
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<String>,
    /// Elements are address+port pairs (`ADDR,tcp:22`), like ipset's hash:net,port.
    #[arg(long)]
    pub with_ports: bool,
    /// Drop or reject traffic from the set's sources on input.
    #[arg(long, value_name = "drop|reject")]
    pub block: Option<String>,
}

#[derive(Args, Debug)]
pub struct AddArgs {
    pub name: String,
    #[arg(required = true, value_name = "ELEMENT")]
    pub elements: Vec<String>,
    /// Remove the elements after this long.
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<String>,
    /// A note kept with each element (shown by `nft list` too).
    #[arg(long, value_name = "TEXT")]
    pub comment: Option<String>,
    /// Accept networks with host bits set (`10.1.2.3/8` becomes `10.0.0.0/8`).
    #[arg(long)]
    pub normalize: bool,
}

#[derive(Args, Debug)]
pub struct DelArgs {
    pub name: String,
    #[arg(required = true, value_name = "ELEMENT")]
    pub elements: Vec<String>,
    #[arg(long)]
    pub normalize: bool,
}

#[derive(Args, Debug)]
pub struct TestArgs {
    pub name: String,
    /// An address (or `ADDR,tcp:PORT` for port sets).
    pub address: String,
}

#[derive(Args, Debug)]
pub struct ListArgs {
    pub name: Option<String>,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
    /// Include the elements.
    #[arg(long)]
    pub elements: bool,
}

#[derive(Args, Debug)]
pub struct LoadArgs {
    pub name: String,
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// auto, plain, netset, ipset, spamhaus or ipset-save.
    #[arg(long, default_value = "auto")]
    pub format: String,
    /// Load the valid lines and report the invalid ones instead of refusing the whole load.
    #[arg(long)]
    pub skip_invalid: bool,
    /// Accept networks with host bits set by masking them.
    #[arg(long)]
    pub normalize: bool,
    /// Print a JSON report (counts and timings) on standard output.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    pub name: String,
    /// plain or ipset-save.
    #[arg(long, default_value = "plain")]
    pub format: String,
}

#[derive(Args, Debug)]
pub struct BlockArgs {
    #[arg(required = true, value_name = "ADDRESS|NETWORK")]
    pub elements: Vec<String>,
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<String>,
    #[arg(long, value_name = "TEXT")]
    pub comment: Option<String>,
}

#[derive(Args, Debug)]
pub struct UnblockArgs {
    #[arg(required = true, value_name = "ADDRESS|NETWORK")]
    pub elements: Vec<String>,
    /// The set to remove them from, e.g. a flood limit's ban set.
    #[arg(long, value_name = "NAME", default_value = "blocklist")]
    pub set: String,
}

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Blocklist to load in the demo (default: the FireHOL level 1 list shipped with palisade).
    #[arg(long, value_name = "FILE")]
    pub list: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum OtpCommand {
    /// Print a new password sheet and store its hashes in ~/.otpw (replacing the old sheet).
    Gen(OtpGenArgs),
    /// Passwords left, and whether a login holds the lock.
    Status(OtpUserArgs),
}

#[derive(Args, Debug)]
pub struct OtpGenArgs {
    /// Passwords on the sheet (1 to 1000; 280 fill one page).
    #[arg(long, default_value_t = 280)]
    pub count: usize,
    /// Write the hash file here instead of the user's ~/.otpw.
    #[arg(long, value_name = "PATH")]
    pub file: Option<PathBuf>,
    /// Replace an existing hash file without asking.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub user: OtpUserArgs,
}

#[derive(Args, Debug)]
pub struct OtpUserArgs {
    /// Whose passwords (root only; default: yourself).
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,
}

impl Cli {
    pub fn parse_args() -> Self {
        Parser::parse()
    }
}
