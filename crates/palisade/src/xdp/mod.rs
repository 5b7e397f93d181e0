//! XDP early drop: palisade's drop sets, also enforced in the network driver.
//!
//! Under a flood from listed sources, nftables' earliest hook still pays for an skb per packet;
//! `palisade-xdp`'s program drops them in the driver, before the stack. This module is the
//! product's side of it: the `palisade xdp` commands, attaching per `[xdp]` in the config after
//! an apply, and keeping the program's maps in step with the kernel sets.
//!
//! nftables stays authoritative. XDP holds a copy of the sets that drop their sources (and of
//! the allowlist, and of the admin's pinned SSH session, which it passes like nftables does),
//! and every change is made in nftables first: XDP only ever drops earlier what nftables drops
//! anyway. Where XDP is absent, detached or fails, nothing changes but a warning.
//!
//! Keeping in step:
//! - every change palisade itself commits (load, add, delete, block, ban, a peer's fleet ban,
//!   flush, destroy, apply) reaches the maps through the store's observer ([`observer`]),
//!   with what the store has in hand: a load's contents, bans with their time left;
//! - what arrives without a palisade command (the kernel's own bans on exceed, written into
//!   dynamic sets from the packet path) is caught by a timer, not by the log watcher (which
//!   may not run at all): `palisade-xdp-sync.timer` runs `palisade xdp sync --kernel-bans`
//!   every minute (the dynamic sets read, missing entries added: no walk of the maps);
//!   `palisade-xdp-resync.timer` runs a full `palisade xdp sync` hourly, which also deletes
//!   expired entries (the program already ignores them: a timed entry carries its deadline)
//!   and puts right whatever a failed write left out of step.
//!
//! Files: [`mirror`] (pure: which sets XDP holds and as what), [`record`] (pure: which
//! interfaces palisade keeps XDP on), [`observer`], [`sync`] (a full sync from the kernel
//! sets), [`status`], [`cmd`] (the commands and the step after `apply`).

pub mod cmd;
pub mod mirror;
pub mod observer;
pub mod record;
pub mod status;
pub mod sync;

use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::netns::Namespace;

/// The environment variable that moves the pin root (tests use a bpffs of their own).
pub const PIN_ROOT_ENV: &str = "PALISADE_BPF_DIR";

/// Where palisade pins its XDP state: `PALISADE_BPF_DIR`, or `/sys/fs/bpf/palisade`.
pub fn pin_root() -> PathBuf {
    std::env::var_os(PIN_ROOT_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| palisade_xdp::DEFAULT_PIN_ROOT.into())
}

/// Run `f` in network namespace `ns`: on a thread that entered it for a `--netns NAME`,
/// else right here. XDP resolves interfaces and finds its pinned state by the calling
/// thread's namespace; the maps it opens work from any thread afterwards.
pub fn in_namespace<T: Send>(ns: &Namespace, f: impl FnOnce() -> T + Send) -> Result<T> {
    let Some(name) = &ns.name else {
        return Ok(f());
    };
    let file = std::fs::File::open(ns.file())
        .with_context(|| format!("cannot open network namespace `{name}`"))?;
    std::thread::scope(|s| {
        s.spawn(|| {
            use std::os::fd::AsRawFd;
            // SAFETY: setns(2) on a namespace file we hold open; it moves only this scoped
            // thread, which ends when `f` returns.
            if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                return Err(std::io::Error::last_os_error())
                    .with_context(|| format!("cannot enter network namespace `{name}`"));
            }
            Ok(f())
        })
        .join()
        .map_err(|_| anyhow::anyhow!("a thread working in network namespace `{name}` panicked"))?
    })
}

/// palisade's XDP state directory for `ns` (it exists only while XDP is attached there).
pub fn state_dir(ns: &Namespace) -> Result<PathBuf> {
    let root = pin_root();
    Ok(in_namespace(ns, || palisade_xdp::Xdp::state_dir(&root))??)
}

/// The store's observer that keeps the XDP maps of `ns` in step with its sets (see
/// [`observer`]). Cheap when XDP is not in use: one check for the pinned maps per change.
pub fn observer(ns: &Namespace) -> Option<Box<dyn crate::store::SetObserver + Send>> {
    Some(Box::new(observer::XdpMirror::new(ns.clone())))
}

/// Print a warning about XDP that did not follow a change nftables made.
pub fn warn(e: &anyhow::Error) {
    let text = format!("{e:#}");
    let still = if text.contains("nftables") {
        ""
    } else {
        "; nftables still blocks (`palisade xdp sync` tries again)"
    };
    eprintln!("palisade: warning: XDP early drop not updated: {text}{still}");
}
