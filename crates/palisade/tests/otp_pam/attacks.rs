//! Issue 12, items 10 to 12: what an attacker tried against the module, each reproduced
//! through real PAM.

use crate::harness::*;
use std::process::Command;

/// Issue 12, item 10: opening a FIFO blocks until someone writes to it, so a `~/.otpw` made
/// a FIFO used to hang every login for that user forever (and `~/.otpw.failures` too). Each
/// of the module's files made a FIFO is refused at once, saying what it is.
#[test]
fn a_fifo_as_the_hash_file_is_refused_at_once() {
    if !require() {
        return;
    }
    let user = TestUser::new();
    let service = Service::palisade();
    for name in [".otpw", ".otpw.failures", ".otpw.lock.owner"] {
        if name != ".otpw" {
            user.install(&look_alike_file());
        }
        let fifo = user.home.join(name);
        let _ = std::fs::remove_file(&fifo);
        run(Command::new("mkfifo").args(["-m", "600"]).arg(&fifo));
        run(Command::new("chown").arg(&user.name).arg(&fifo));
        // `finish` polls pamtester's output until it ends, and panics if it falls silent.
        let (ok, text) = Login::start(&service, &user).finish();
        let reason = format!(
            "{}: refusing it: it is a FIFO, not a regular file",
            fifo.display()
        );
        assert!(
            !ok && text.contains(AUTHINFO_UNAVAIL) && text.contains(&reason),
            "{name}: {text}"
        );
        assert!(!text.contains("Password "), "{name}: {text}");
        std::fs::remove_file(&fifo).unwrap();
    }
}

/// Issue 12, item 11: a login killed while it holds the lock (here during the delay after a
/// wrong answer) used to leave it for 24 hours: every later login got the triple challenge.
#[test]
fn a_lock_left_by_a_killed_login_is_taken_over_at_once() {
    if !require() {
        return;
    }
    let user = TestUser::new();
    let sheet = palisade_gen(&user, 20);
    let service = Service::palisade();
    let mut killed = Login::start(&service, &user);
    let locked = killed.prompt();
    assert_eq!(locked.len(), 1);
    killed.answer(&format!("{PREFIX}AAAAAAAA"));
    // The module logs the wrong answer, then waits at least 2 s before it lets go of the lock.
    assert!(
        killed.read_until(|t| t.contains("wrong answer")),
        "{}",
        killed.text()
    );
    killed.kill();
    assert_eq!(
        user.lock().as_deref(),
        Some(locked[0].as_str()),
        "the killed login left its lock behind"
    );
    let mut next = Login::start(&service, &user);
    let numbers = next.prompt();
    assert_eq!(numbers, locked, "a single challenge: {}", next.text());
    let pid = killed.child.id();
    assert!(
        next.text().contains(&format!(
            "removed a stale lock: its login (pid {pid}) has ended"
        )),
        "{}",
        next.text()
    );
    next.answer(&sheet.answer(&numbers));
    assert_ok(next.finish());
    assert_eq!(user.lock(), None);
    assert_eq!(user.parsed().remaining(), 19);
}

/// Issue 12, item 12: the failure count is read, increased and written back; parallel wrong
/// answers used to overwrite each other's counts (12 counted as 8).
#[test]
fn parallel_wrong_answers_are_all_counted() {
    if !require() {
        return;
    }
    const LOGINS: usize = 12;
    let user = TestUser::new();
    palisade_gen(&user, 40);
    let service = Service::palisade();
    let mut logins: Vec<Login> = (0..LOGINS).map(|_| Login::start(&service, &user)).collect();
    // Every login is challenged (past the lock-out check) before any of them answers.
    for login in &mut logins {
        login.prompt();
    }
    for login in &mut logins {
        login.answer(&format!("{PREFIX}AAAAAAAA"));
    }
    for login in logins {
        assert_refused(login.finish(), AUTH_ERR);
    }
    let record = std::fs::read_to_string(user.home.join(".otpw.failures")).unwrap();
    let count: usize = record.split_whitespace().next().unwrap().parse().unwrap();
    assert_eq!(count, LOGINS, "{record}");
}
