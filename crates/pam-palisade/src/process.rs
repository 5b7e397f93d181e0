//! Who this login is and whether another one is still alive: the system calls behind the
//! lock owner record (the rules are in `palisade_otp::lock_owner`).
//!
//! Existence is asked of the kernel with `kill(pid, 0)`, not by looking in `/proc`: with
//! `/proc` mounted `hidepid=invisible`, another user's live process looks absent there (and
//! the module reads files with the user's file-system rights), which would make a live lock
//! look stale. `kill` is checked with the real and effective ids, which `setfsuid` leaves
//! alone; an EPERM answer still means the process exists. `/proc/PID/stat` then only serves
//! to compare start times, and when it cannot be read the lock counts as held.

use palisade_otp::lock_owner::{parse_proc_stat, ProcStat};
use palisade_otp::{Host, Observed, Process};
use std::os::unix::fs::MetadataExt;

/// This process, or `None` if its `/proc` entry cannot be read (then no record is written
/// and the lock falls back to OTPW's age rule).
pub fn this_process() -> Option<Process> {
    let stat = parse_proc_stat(&std::fs::read("/proc/self/stat").ok()?)?;
    Some(Process {
        pid: std::process::id(),
        start_ticks: stat.start_ticks,
    })
}

/// Where this process runs, or `None` if any part of it cannot be read.
pub fn this_host() -> Option<Host> {
    let machine = first_word("/etc/machine-id").or_else(node_name)?;
    let boot = first_word("/proc/sys/kernel/random/boot_id")?;
    let pid_namespace = std::fs::metadata("/proc/self/ns/pid").ok()?.ino();
    Some(Host {
        machine,
        boot,
        pid_namespace,
    })
}

/// Look for process `pid` in this pid namespace.
pub fn observe(pid: u32) -> Observed {
    let Ok(pid_t) = libc::pid_t::try_from(pid) else {
        return Observed::Present(None);
    };
    if pid_t <= 0 {
        return Observed::Present(None);
    }
    // SAFETY: signal 0 only checks that the process exists and may be signalled.
    if unsafe { libc::kill(pid_t, 0) } != 0
        && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH)
    {
        return Observed::Gone;
    }
    Observed::Present(read_stat(pid))
}

fn read_stat(pid: u32) -> Option<ProcStat> {
    parse_proc_stat(&std::fs::read(format!("/proc/{pid}/stat")).ok()?)
}

/// The first whitespace-separated word of a small system file.
fn first_word(path: &str) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    text.split_ascii_whitespace().next().map(str::to_string)
}

/// The host name (`uname`), for a system without `/etc/machine-id`.
fn node_name() -> Option<String> {
    // SAFETY: utsname is plain data that uname fills in.
    let mut names: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: a valid pointer to the struct above.
    if unsafe { libc::uname(&mut names) } != 0 {
        return None;
    }
    // SAFETY: uname NUL-terminates the field.
    let name = unsafe { std::ffi::CStr::from_ptr(names.nodename.as_ptr()) };
    let name = name.to_string_lossy();
    name.split_ascii_whitespace().next().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sees_itself_and_not_a_reaped_child() {
        let me = this_process().expect("/proc/self/stat");
        assert_eq!(me.pid, std::process::id());
        assert!(this_host().is_some());
        match observe(me.pid) {
            Observed::Present(Some(stat)) => assert_eq!(stat.start_ticks, me.start_ticks),
            other => panic!("this process looks {other:?}"),
        }
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        // The pid could be reused at once only after the kernel cycled through all others.
        assert_eq!(observe(pid), Observed::Gone);
    }
}
