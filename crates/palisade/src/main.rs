//! The `palisade` command.

mod cache;
mod cli;
mod commands;
mod demo;
mod demo_otp;
mod kernel_addr;
mod load;
mod otp_cmd;
mod store;

use anyhow::{Context, Result};
use cli::{Cli, Command};
use commands::Out;
use palisade_nft::Netlink;
use std::process::ExitCode;
use store::Store;

/// State directory: `PALISADE_STATE_DIR`, or `/var/lib/palisade`.
fn state_dir() -> std::path::PathBuf {
    std::env::var_os("PALISADE_STATE_DIR")
        .map(Into::into)
        .unwrap_or_else(|| "/var/lib/palisade".into())
}

fn connect(netns: &Option<String>) -> Result<Store> {
    use std::os::unix::fs::MetadataExt;
    let ns_file = match netns {
        Some(name) => std::path::Path::new("/run/netns").join(name),
        None => "/proc/self/ns/net".into(),
    };
    let cache = std::fs::metadata(&ns_file)
        .ok()
        .map(|m| store::CacheConfig {
            dir: state_dir().join("sets"),
            netns_inode: m.ino(),
        });
    let nl = match netns {
        Some(name) => Netlink::open_in_netns(&std::path::Path::new("/run/netns").join(name))
            .with_context(|| format!("cannot enter network namespace `{name}`"))?,
        None => Netlink::open()
            .context("cannot talk to nftables (palisade needs root or CAP_NET_ADMIN)")?,
    };
    Ok(Store::new(nl, cache))
}

fn run(cli: Cli) -> Result<i32> {
    let out = Out {
        quiet: cli.quiet,
        verbose: cli.verbose,
    };
    match cli.command {
        Command::Set(cmd) => commands::set(&mut connect(&cli.netns)?, cmd, out),
        Command::Block(a) => commands::block(&mut connect(&cli.netns)?, a, out),
        Command::Unblock(a) => commands::unblock(&mut connect(&cli.netns)?, a, out),
        Command::Demo(a) => demo::run(a, out).map(|()| 0),
        Command::Otp(cmd) => otp_cmd::run(cmd, out),
    }
}

/// What to do about the errors admins meet most.
fn hint(e: &anyhow::Error) -> Option<&'static str> {
    let nft = e.chain().find_map(|c| {
        c.downcast_ref::<palisade_nft::NftError>().or_else(|| {
            c.downcast_ref::<store::StoreError>()
                .and_then(store::StoreError::nft)
        })
    })?;
    match nft.errno() {
        Some(libc::EPERM) => {
            Some("reading or changing nftables needs root (CAP_NET_ADMIN): run palisade with sudo")
        }
        Some(libc::EPROTONOSUPPORT) | Some(libc::EAFNOSUPPORT) => {
            Some("this kernel lacks nf_tables: load it with `modprobe nf_tables`")
        }
        _ => None,
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse_args();
    if matches!(cli.command, Command::Demo(_)) {
        // Before any thread starts, so every thread inherits the blocked signals.
        palisade_lab::remove_on_signals();
    }
    match run(cli) {
        Ok(code) => ExitCode::from(code as u8),
        Err(e) => {
            eprintln!("palisade: error: {e}");
            for cause in e.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            if let Some(hint) = hint(&e) {
                eprintln!("  hint: {hint}");
            }
            ExitCode::from(2)
        }
    }
}
