//! The `palisade` command.

mod cache;
mod cli;
mod commands;
mod demo;
mod demo_otp;
mod demo_policy;
mod demo_watch;
mod kernel_addr;
mod load;
mod otp_cmd;
mod policy;
mod store;
mod watch;

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

/// The inode of the network namespace palisade works in: state is kept per namespace.
fn netns_inode(netns: &Option<String>) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let ns_file = match netns {
        Some(name) => std::path::Path::new("/run/netns").join(name),
        None => "/proc/self/ns/net".into(),
    };
    std::fs::metadata(&ns_file).map(|m| m.ino()).unwrap_or(0)
}

fn watch_paths(netns: &Option<String>) -> watch::WatchPaths {
    watch::WatchPaths::new(
        &state_dir()
            .join("watch")
            .join(format!("netns-{}", netns_inode(netns))),
    )
}

/// The kernel, and the records of this namespace's policy.
fn policy_env(netns: &Option<String>) -> Result<policy::cmd::Env> {
    let inode = netns_inode(netns);
    Ok(policy::cmd::Env {
        store: connect(netns)?,
        records: policy::records::Records::new(
            state_dir().join("policy").join(format!("netns-{inode}")),
        ),
        saved_file: state_dir().join("saved.state"),
        netns: netns.clone(),
    })
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
        command => {
            let mut env = policy_env(&cli.netns)?;
            use policy::cmd;
            match command {
                Command::Check(a) => cmd::check(&mut env, &a),
                Command::Plan(a) => cmd::plan(&mut env, &a),
                Command::Apply(a) => cmd::apply_cmd(&mut env, &a, out),
                Command::Confirm => cmd::confirm(&mut env),
                Command::Rollback => cmd::rollback(&mut env, out),
                Command::Status(a) => cmd::status(&mut env, &a),
                Command::Explain(a) => cmd::explain_cmd(&mut env, &a),
                Command::Save { file } => cmd::save(&mut env, file, out),
                Command::Restore { file } => cmd::restore(&mut env, file, out),
                Command::Watch(a) => {
                    let cfg = watch::read_config(&a.policy.config)?;
                    match &a.test {
                        Some(file) => watch::test_file(&cfg, file, a.jail.as_deref()),
                        None => {
                            watch::run(&mut env.store, cfg, &watch_paths(&cli.netns), a.from_start)
                        }
                    }
                }
                Command::Bans { json, policy } => {
                    let cfg = watch::read_config(&policy.config)?;
                    watch::list(&mut env.store, &cfg, json)
                }
                Command::Unban { addresses, policy } => {
                    let cfg = watch::read_config(&policy.config)?;
                    watch::unban(&mut env.store, &cfg, &watch_paths(&cli.netns), &addresses)
                }
                Command::ConfirmTimer { token, seconds } => {
                    cmd::confirm_timer(&mut env, token, seconds)
                }
                _ => unreachable!("handled above"),
            }
        }
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
    // `palisade status | head` should end quietly, as other command-line tools do.
    // SAFETY: restoring the default disposition of a signal, before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
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
