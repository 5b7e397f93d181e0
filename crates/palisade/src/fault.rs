//! Fault injection for the crash tests: `PALISADE_FAULT_AT=NAME` makes palisade kill itself
//! with SIGKILL when it reaches the point called NAME, exactly as a `kill -9` or a power cut
//! at that moment would. The tests use it to show that a crash at every step of a
//! transaction ends in a consistent state. Unset, it costs one environment lookup per point.

/// Die here, abruptly, if the environment asks for it.
pub fn point(name: &str) {
    if std::env::var_os("PALISADE_FAULT_AT").is_some_and(|v| v == name) {
        // SAFETY: kill(2) on our own process; SIGKILL cannot be caught, nothing runs after.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
    }
}
