//! Flags of `palisade set`, `block` and `unblock`.

use clap::{Args, Subcommand, ValueEnum};
use palisade_core::Format;
use std::path::PathBuf;

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

/// What a set does to the traffic of its sources.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum BlockArg {
    Drop,
    Reject,
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    /// Letters, digits, `-` and `_`; at most 40 characters.
    pub name: String,
    /// Default timeout for elements added singly (`set add`, `block`) without one
    /// (e.g. `10m`, `1h30m`, `2d`); what `set load` loads stays until the next load.
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<String>,
    /// Elements are address+port pairs (`ADDR,tcp:22`), like ipset's hash:net,port.
    #[arg(long)]
    pub with_ports: bool,
    /// Drop or reject the traffic of the set's addresses (before conntrack and DNAT, so
    /// traffic to the host, forwarded traffic and published container ports alike).
    #[arg(long, value_enum)]
    pub block: Option<BlockArg>,
    /// Which addresses of a packet the set matches: sources (traffic from them), destinations
    /// (the host's and forwarded connections to them), or both.
    #[arg(long, value_enum, default_value = "in")]
    pub direction: SetDirectionArg,
    /// The set is an allowlist: no block set, ban or fleet ban ever drops what it holds.
    #[arg(long, conflicts_with = "block")]
    pub allowlist: bool,
}

/// Which addresses of a packet a set matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SetDirectionArg {
    /// Sources.
    In,
    /// Destinations.
    Out,
    /// Both.
    Both,
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
    /// Accept networks with host bits set by masking them.
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

/// The format of list files.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    /// Detect from the file name and first lines.
    Auto,
    /// One address, network or range per line; `#` and `;` comments.
    Plain,
    /// FireHOL `.netset`.
    Netset,
    /// FireHOL `.ipset`.
    Ipset,
    /// Spamhaus DROP (`CIDR ; SBLnnn`).
    Spamhaus,
    /// The output of `ipset save`.
    IpsetSave,
    /// A JSON IP-range document as Google publishes (`{"prefixes": [{"ipv4Prefix": ...}]}`).
    Json,
}

impl From<ListFormat> for Format {
    fn from(f: ListFormat) -> Self {
        match f {
            ListFormat::Auto => Format::Auto,
            ListFormat::Plain => Format::Plain,
            ListFormat::Netset => Format::Netset,
            ListFormat::Ipset => Format::Ipset,
            ListFormat::Spamhaus => Format::Spamhaus,
            ListFormat::IpsetSave => Format::IpsetSave,
            ListFormat::Json => Format::Json,
        }
    }
}

#[derive(Args, Debug)]
pub struct LoadArgs {
    pub name: String,
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// The files' format.
    #[arg(long, value_enum, default_value = "auto")]
    pub format: ListFormat,
    /// Load the valid lines and report the invalid ones instead of refusing the whole load.
    #[arg(long)]
    pub skip_invalid: bool,
    /// With --skip-invalid: refuse the load when more than this share of lines (percent) is
    /// invalid, as in an HTML error page.
    #[arg(long, value_name = "PERCENT", default_value_t = 50, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub max_skipped: u8,
    /// Allow a load that empties the set (files with no address at all).
    #[arg(long)]
    pub allow_empty: bool,
    /// Accept networks with host bits set by masking them.
    #[arg(long)]
    pub normalize: bool,
    /// Print a JSON report (counts and timings) on standard output.
    #[arg(long)]
    pub json: bool,
}

/// How `set export` writes a set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// One network per line.
    Plain,
    /// `create` and `add` lines for `ipset restore`.
    IpsetSave,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    pub name: String,
    /// The output format.
    #[arg(long, value_enum, default_value = "plain")]
    pub format: ExportFormat,
}

#[derive(Args, Debug)]
pub struct BlockArgs {
    #[arg(required = true, value_name = "ADDRESS|NETWORK")]
    pub elements: Vec<String>,
    /// Unblock by itself after this long.
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<String>,
    /// A note kept with each element.
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
