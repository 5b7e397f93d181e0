//! Messages for the admin: to syslog (auth facility, as PAM modules do), and with the module
//! argument `debug` to standard error as well, where `pamtester` and the tests see them.

use std::ffi::CString;

#[derive(Clone, Copy)]
pub struct Log {
    pub debug: bool,
}

impl Log {
    /// Log `message` about `user` at `level` (a `libc::LOG_*` priority).
    pub fn say(&self, level: libc::c_int, user: &str, message: &str) {
        let line = format!("pam_palisade: user {user}: {message}");
        if self.debug {
            eprintln!("{line}");
        }
        if let Ok(c) = CString::new(line) {
            // SAFETY: a constant format string with one NUL-terminated argument.
            unsafe { libc::syslog(libc::LOG_AUTHPRIV | level, c"%s".as_ptr(), c.as_ptr()) };
        }
    }
}
