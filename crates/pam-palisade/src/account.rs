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
        let mut buf = vec![0u8; 4096];
        loop {
            // SAFETY: passwd is plain data; getpwnam_r fills it with pointers into `buf`,
            // which outlives every use below.
            let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
            let mut result: *mut libc::passwd = std::ptr::null_mut();
            let rc = unsafe {
                libc::getpwnam_r(
                    c_name.as_ptr(),
                    &mut pwd,
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    &mut result,
                )
            };
            if rc == libc::ERANGE && buf.len() < 1 << 20 {
                buf.resize(buf.len() * 4, 0);
                continue;
            }
            if rc != 0 || result.is_null() || pwd.pw_dir.is_null() {
                return None;
            }
            // SAFETY: pw_dir points to a NUL-terminated string inside `buf`.
            let home = unsafe { CStr::from_ptr(pwd.pw_dir) };
            use std::os::unix::ffi::OsStrExt;
            return Some(Account {
                name: name.to_string(),
                uid: pwd.pw_uid,
                gid: pwd.pw_gid,
                home: PathBuf::from(std::ffi::OsStr::from_bytes(home.to_bytes())),
            });
        }
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
