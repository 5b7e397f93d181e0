//! The user's entry in the password database: where their home is and who owns it.

use std::ffi::{CStr, CString};
use std::path::PathBuf;

/// Whose one-time passwords a login checks.
#[derive(Debug, Clone)]
pub struct Account {
    pub name: String,
    pub uid: libc::uid_t,
    pub gid: libc::gid_t,
    pub home: PathBuf,
}

impl Account {
    /// Look `name` up with `getpwnam_r` (reentrant: sshd and other PAM applications may have
    /// threads of their own). `None` when there is no such user.
    pub fn lookup(name: &str) -> Option<Account> {
        let c_name = CString::new(name).ok()?;
        // SAFETY: arguments as getpwnam_r documents them, passed through from `from_passwd`.
        from_passwd(|pwd, buf, len, result| unsafe {
            libc::getpwnam_r(c_name.as_ptr(), pwd, buf, len, result)
        })
    }

    /// The user this process runs as (its real uid).
    pub fn current() -> Option<Account> {
        // SAFETY: getuid has no preconditions; getpwuid_r as for `lookup`.
        let uid = unsafe { libc::getuid() };
        from_passwd(|pwd, buf, len, result| unsafe { libc::getpwuid_r(uid, pwd, buf, len, result) })
    }
}

/// Call a `getpw*_r` function with a growing buffer and copy out what the module needs.
fn from_passwd(
    mut call: impl FnMut(
        &mut libc::passwd,
        *mut libc::c_char,
        usize,
        &mut *mut libc::passwd,
    ) -> libc::c_int,
) -> Option<Account> {
    let mut buf = vec![0u8; 4096];
    loop {
        // SAFETY: passwd is plain data; the call fills it with pointers into `buf`, which
        // outlives every use below.
        let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        let rc = call(&mut pwd, buf.as_mut_ptr().cast(), buf.len(), &mut result);
        if rc == libc::ERANGE && buf.len() < 1 << 20 {
            buf.resize(buf.len() * 4, 0);
            continue;
        }
        if rc != 0 || result.is_null() || pwd.pw_dir.is_null() || pwd.pw_name.is_null() {
            return None;
        }
        use std::os::unix::ffi::OsStrExt;
        // SAFETY: both point to NUL-terminated strings inside `buf`.
        let (name, home) = unsafe { (CStr::from_ptr(pwd.pw_name), CStr::from_ptr(pwd.pw_dir)) };
        return Some(Account {
            name: name.to_string_lossy().into_owned(),
            uid: pwd.pw_uid,
            gid: pwd.pw_gid,
            home: PathBuf::from(std::ffi::OsStr::from_bytes(home.to_bytes())),
        });
    }
}

/// Runs `f` with the file-system user and group ids of `account`, so every file the module
/// reads, writes or links in the home directory is accessed with the user's own rights, as
/// OTPW does with `seteuid`. Unlike `seteuid`, `setfsuid` changes only this thread, so a
/// threaded application is not affected. A no-op when the process already is the user.
pub fn as_user<T>(account: &Account, f: impl FnOnce() -> T) -> std::io::Result<T> {
    // SAFETY: setfsuid/setfsgid only change this thread's file-system ids; passing -1
    // (an invalid id) changes nothing and returns the current one.
    let (old_uid, old_gid) = unsafe {
        let old_gid = libc::setfsgid(account.gid);
        let old_uid = libc::setfsuid(account.uid);
        (old_uid as libc::uid_t, old_gid as libc::gid_t)
    };
    let now_uid = unsafe { libc::setfsuid(libc::uid_t::MAX) } as libc::uid_t;
    let now_gid = unsafe { libc::setfsgid(libc::gid_t::MAX) } as libc::gid_t;
    let result = if now_uid == account.uid && now_gid == account.gid {
        Ok(f())
    } else {
        Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            format!("cannot act as uid {} gid {}", account.uid, account.gid),
        ))
    };
    unsafe {
        libc::setfsuid(old_uid);
        libc::setfsgid(old_gid);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_root_and_not_a_stranger() {
        let root = Account::lookup("root").unwrap();
        assert_eq!(root.uid, 0);
        assert!(root.home.is_absolute());
        assert!(Account::lookup("no-such-user-palisade").is_none());
        assert!(Account::lookup("nul\0byte").is_none());
        // SAFETY: no preconditions.
        assert_eq!(Account::current().unwrap().uid, unsafe { libc::getuid() });
    }

    #[test]
    fn as_self_runs_the_closure() {
        // SAFETY: getuid/getgid have no preconditions.
        let me = Account {
            name: "me".into(),
            uid: unsafe { libc::getuid() },
            gid: unsafe { libc::getgid() },
            home: "/".into(),
        };
        assert_eq!(as_user(&me, || 7).unwrap(), 7);
    }
}
