//! `palisade otp gen` and `palisade otp status`: one-time password sheets for SSH logins,
//! in OTPW's file format, checked at login by `pam_palisade.so`.

use crate::cli::{OtpCommand, OtpGenArgs, OtpUserArgs};
use crate::commands::Out;
use anyhow::{bail, Context, Result};
use palisade_otp::{FailurePolicy, Verdict};
use pam_palisade::account::{as_user, Account};
use pam_palisade::files::{self, Unusable};
use std::io::{BufRead, IsTerminal, Write};

pub fn run(cmd: OtpCommand, out: Out) -> Result<i32> {
    match cmd {
        OtpCommand::Gen(a) => generate(a, out),
        OtpCommand::Status(a) => status(a),
    }
}

/// The account whose sheet this is: `--user` (root only) or whoever runs the command.
fn account(user: &OtpUserArgs) -> Result<Account> {
    match &user.user {
        Some(name) => Account::lookup(name).with_context(|| format!("no user `{name}`")),
        None => Account::current().context("cannot find the current user in the password database"),
    }
}

fn generate(a: OtpGenArgs, out: Out) -> Result<i32> {
    palisade_otp::sheet::check_count(a.count)?;
    let account = account(&a.user)?;
    let path = a
        .file
        .clone()
        .unwrap_or_else(|| files::hash_path(&account.home));
    if !a.force && path.symlink_metadata().is_ok() && !confirm_replace(&path)? {
        bail!("kept {}; use --force to replace it", path.display());
    }
    let prefix = read_prefix()?;
    let mut random_bytes =
        |buf: &mut [u8]| getrandom::fill(buf).expect("the operating system's random source failed");
    let sheet = palisade_otp::generate(prefix.as_bytes(), a.count, &mut random_bytes)?;
    as_user(&account, || {
        files::write_atomically(&path, &sheet.file.to_bytes())
    })
    .and_then(|r| r)
    .with_context(|| {
        format!(
            "cannot write {} as user {} (another user's sheet needs root)",
            path.display(),
            account.name
        )
    })?;
    if a.file.is_none() {
        // A new sheet starts with a clean record.
        let _ = as_user(&account, || {
            std::fs::remove_file(account.home.join(palisade_otp::FAILURE_FILE_NAME))
        });
    }
    let title = format!(
        "palisade one-time passwords, generated {} on {}",
        local_time(),
        hostname()
    );
    print!("{}", palisade_otp::render_sheet(&title, &sheet.passwords));
    std::io::stdout().flush()?;
    if !out.quiet {
        eprintln!(
            "wrote {}: {} passwords. Print the sheet now: it is not stored anywhere.",
            path.display(),
            a.count
        );
    }
    Ok(0)
}

/// Ask on the terminal; without one, only `--force` replaces a sheet.
fn confirm_replace(path: &std::path::Path) -> Result<bool> {
    if !std::io::stdin().is_terminal() {
        bail!(
            "{} exists: add --force to replace it (the old sheet stops working)",
            path.display()
        );
    }
    eprint!(
        "{} exists; replace it (the old sheet stops working)? [y/N] ",
        path.display()
    );
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes"))
}

/// The prefix password: typed twice without echo on a terminal, else the first line of
/// standard input (a second line, as `otpw-gen` reads it, must repeat it).
fn read_prefix() -> Result<String> {
    let stdin = std::io::stdin();
    let (first, second) = if stdin.is_terminal() {
        eprintln!("The prefix password is typed before every one-time password; it protects a lost sheet.");
        let first = read_hidden("Prefix password: ")?;
        let second = read_hidden("Again: ")?;
        (first, Some(second))
    } else {
        let mut lines = stdin.lock().lines();
        let first = lines.next().transpose()?.unwrap_or_default();
        (first, lines.next().transpose()?)
    };
    if second.is_some_and(|s| s != first) {
        bail!("the two prefix passwords differ");
    }
    if first.is_empty() {
        bail!("the prefix password is empty: a sheet without one lets whoever finds it log in");
    }
    Ok(first)
}

/// Read a line from the terminal with echo off, restoring the terminal afterwards.
fn read_hidden(prompt: &str) -> Result<String> {
    eprint!("{prompt}");
    // SAFETY: termios is plain data filled by tcgetattr on standard input.
    let mut saved: libc::termios = unsafe { std::mem::zeroed() };
    let have_termios = unsafe { libc::tcgetattr(0, &mut saved) } == 0;
    if have_termios {
        let mut quiet = saved;
        quiet.c_lflag &= !libc::ECHO;
        // SAFETY: a copy of the settings just read, with echo off.
        unsafe { libc::tcsetattr(0, libc::TCSAFLUSH, &quiet) };
    }
    let mut line = String::new();
    let read = std::io::stdin().lock().read_line(&mut line);
    if have_termios {
        // SAFETY: restores the settings read above.
        unsafe { libc::tcsetattr(0, libc::TCSAFLUSH, &saved) };
    }
    eprintln!();
    read?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

fn status(a: OtpUserArgs) -> Result<i32> {
    let account = account(&a)?;
    let now = files::unix_now();
    let report = as_user(&account, || {
        let opened = files::open_hash_file(&account.home, account.uid, false);
        let lock = files::lock_state(&account.home, now);
        let failures = files::read_failures(&account.home);
        (opened, lock, failures)
    })
    .with_context(|| {
        format!(
            "cannot read {}'s files (another user's need root)",
            account.name
        )
    })?;
    let (opened, lock, failures) = report;
    let path = files::hash_path(&account.home);
    let code = match opened {
        Ok(o) => {
            println!(
                "{}: {}",
                path.display(),
                palisade_otp::sheet::remaining_message(&o.parsed)
            );
            0
        }
        Err(Unusable::Missing) => {
            println!(
                "{}: none; create a sheet with `palisade otp gen`",
                path.display()
            );
            1
        }
        Err(e) => {
            println!("not usable: {e}");
            1
        }
    };
    match lock {
        Some((number, age)) if age <= palisade_otp::STALE_LOCK_SECS => println!(
            "locked: a login is answering password {number} (since {age} s); a concurrent one gets three passwords"
        ),
        Some((number, age)) => println!("stale lock on password {number} ({age} s old): the next login removes it"),
        None => println!("not locked"),
    }
    if failures.count > 0 {
        let policy = FailurePolicy::default();
        match policy.verdict(failures, now) {
            Verdict::LockedOut { until } => println!(
                "{} failed answers in a row: one-time passwords refused for another {} s",
                failures.count,
                until - now
            ),
            Verdict::Allowed => println!("{} failed answers in a row", failures.count),
        }
    }
    Ok(code)
}

/// `2026-11-24 22:15`, local time, for the sheet's title.
fn local_time() -> String {
    // SAFETY: time, localtime_r and strftime with a buffer of the size passed.
    unsafe {
        let now = libc::time(std::ptr::null_mut());
        let mut tm: libc::tm = std::mem::zeroed();
        libc::localtime_r(&now, &mut tm);
        let mut buf = [0u8; 32];
        let n = libc::strftime(
            buf.as_mut_ptr().cast(),
            buf.len(),
            c"%Y-%m-%d %H:%M".as_ptr(),
            &tm,
        );
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "this host".into())
}
