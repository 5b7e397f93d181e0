//! The watcher's system calls: stop signals. (The host's own addresses come from route
//! netlink, in `palisade-nft`: see [`super::own_addrs`].)

use std::sync::atomic::{AtomicBool, Ordering};

/// Set by SIGTERM or SIGINT: the daemon saves its state and stops.
static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

pub fn catch_signals() {
    // A parent may have started us with these blocked (blocked signals survive exec): a
    // daemon that cannot be stopped cleanly would lose its state.
    // SAFETY: plain signal-mask calls on a set we build here.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
    }
    for sig in [libc::SIGTERM, libc::SIGINT] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe {
            libc::signal(
                sig,
                on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t,
            );
        }
    }
}

/// A stop signal arrived.
pub fn stopping() -> bool {
    STOP.load(Ordering::Relaxed)
}
