//! Flags of `palisade xdp`: the XDP early drop.

use clap::{ArgGroup, Args, Subcommand, ValueEnum};

#[derive(Subcommand, Debug)]
pub enum XdpCommand {
    /// Attach palisade's XDP program to an interface: sources listed in drop sets are dropped
    /// in its driver, before the network stack (nftables keeps blocking them too).
    Attach(XdpAttachArgs),
    /// Take palisade's XDP program off an interface, or off all (nftables keeps blocking).
    Detach(XdpDetachArgs),
    /// Interfaces and their XDP mode; per drop set, packets dropped and entries per family.
    Status(XdpStatusArgs),
    /// Make the XDP maps hold exactly what the kernel sets hold now (bans the kernel made by
    /// itself, expired entries deleted); palisade-xdp-resync.timer runs it hourly.
    Sync(XdpSyncArgs),
}

/// How to attach.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum XdpModeArg {
    /// Native where the driver supports it, generic otherwise.
    #[default]
    Auto,
    /// In the driver only; fails where the driver cannot run XDP.
    Native,
    /// After the driver, still before the stack; works on every interface.
    Generic,
}

#[derive(Args, Debug)]
pub struct XdpAttachArgs {
    /// The interface (`ip link` name).
    #[arg(value_name = "IFACE")]
    pub interface: String,
    #[arg(long, value_enum, default_value_t = XdpModeArg::Auto)]
    pub mode: XdpModeArg,
    /// Room for this many drop entries per address family, fixed when the maps are made by the
    /// first attach in this network namespace [default: 2000000].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_entries: Option<u32>,
}

#[derive(Args, Debug)]
#[command(group(ArgGroup::new("which").required(true).args(["interface", "all"])))]
pub struct XdpDetachArgs {
    /// The interface to take the program off.
    #[arg(value_name = "IFACE")]
    pub interface: Option<String>,
    /// Every interface of this network namespace (also ones since removed), and the maps.
    #[arg(long)]
    pub all: bool,
}

#[derive(Args, Debug)]
pub struct XdpStatusArgs {
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct XdpSyncArgs {
    /// First attach again where palisade keeps XDP (the interfaces of the last apply's
    /// `[xdp]`, and those attached by hand) and it is not attached: after a reboot, bpffs is
    /// empty.
    #[arg(long)]
    pub attach: bool,
    /// Only add the bans the kernel made by itself (dynamic sets), without reading the maps
    /// back: cheap, for palisade-xdp-sync.timer every minute.
    #[arg(long)]
    pub kernel_bans: bool,
}
