//! One-time passwords through real PAM: `pamtester` drives `pam_palisade.so` and Debian's
//! own `pam_otpw.so` over sheets written by `palisade otp gen` and by Debian's `otpw-gen`,
//! both ways. Each test makes a throw-away user (its home in a temporary directory) and a
//! PAM service file of its own in /etc/pam.d, and removes both when it ends, also on failure.
//! Needs root, `pamtester`, `otpw-gen` and `pam_otpw.so` (`scripts/deps.sh` installs them);
//! under CI a missing piece fails the tests instead of skipping them.

#[path = "otp_pam/attacks.rs"]
mod attacks;
#[path = "otp_pam/harness.rs"]
mod harness;
#[path = "otp_pam/ssh.rs"]
mod ssh;

use harness::*;
use palisade_otp::{Entry, HashFile};
use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn an_otpw_gen_sheet_logs_in_through_pam_palisade_once() {
    if !require() {
        return;
    }
    let user = TestUser::new();
    let sheet = otpw_gen(&user);
    let service = Service::palisade();
    let mut login = Login::start(&service, &user);
    let numbers = login.prompt();
    assert_eq!(numbers.len(), 1);
    assert_eq!(
        user.lock().as_deref(),
        Some(numbers[0].as_str()),
        "the challenge is locked"
    );
    login.answer(&sheet.answer(&numbers));
    let text = assert_ok(login.finish());
    assert!(text.contains("49 of 50 one-time passwords left."), "{text}");
    assert_eq!(user.lock(), None, "the lock is released");
    assert_eq!(user.parsed().remaining(), 49);
    let burnt = std::fs::read_to_string(user.hash_file()).unwrap();
    assert!(
        !burnt.contains(&format!("\n{}", numbers[0])),
        "entry {} burnt",
        numbers[0]
    );

    // Reuse: the same password again, for the next challenge, is refused.
    let reused = login_with(&service, &user, |_| sheet.answer(&numbers));
    assert_refused(reused, AUTH_ERR);
    assert_eq!(user.parsed().remaining(), 49);
    assert_eq!(user.lock(), None, "a failed login releases its lock too");
}

#[test]
fn a_palisade_sheet_logs_in_through_the_real_pam_otpw() {
    if !require() {
        return;
    }
    let user = TestUser::new();
    let sheet = palisade_gen(&user, 40);
    let meta = std::fs::metadata(user.hash_file()).unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!(meta.mode() & 0o777, 0o600);
    assert_eq!(Some(meta.uid()), uid_of(&user.name));
    let service = Service::otpw();
    let (ok, text) = login_with(&service, &user, |n| sheet.answer(n));
    assert!(ok, "{text}");
    assert!(
        text.contains("Remaining one-time passwords: 39 of 40"),
        "{text}"
    );
    assert_eq!(user.parsed().remaining(), 39);
    // And through ours, on the file pam_otpw just burnt an entry of.
    assert_ok(login_with(&Service::palisade(), &user, |n| sheet.answer(n)));
    assert_eq!(user.parsed().remaining(), 38);
}

#[test]
fn wrong_prefix_is_refused_by_both_modules() {
    if !require() {
        return;
    }
    let user = TestUser::new();
    let sheet = palisade_gen(&user, 20);
    for service in [Service::palisade(), Service::otpw()] {
        let started = Instant::now();
        let result = login_with(&service, &user, |n| {
            sheet.answer(n).replacen("geHeim", "geheim", 1)
        });
        assert_refused(result, AUTH_ERR);
        assert_eq!(user.parsed().remaining(), 20);
        assert_eq!(user.lock(), None);
        if service.path.exists()
            && std::fs::read_to_string(&service.path)
                .unwrap()
                .contains("palisade.so")
        {
            assert!(
                started.elapsed() >= Duration::from_secs(2),
                "a failure is answered after a delay"
            );
        }
    }
    // A third character typed in as the prefix's last one is part of the prefix: refused.
    assert_refused(
        login_with(&Service::palisade(), &user, |n| {
            format!("{}x", sheet.answer(n))
        }),
        AUTH_ERR,
    );
}

#[test]
fn confusable_characters_are_accepted_by_both_modules() {
    if !require() {
        return;
    }
    let user = TestUser::new();
    for service in [Service::palisade(), Service::otpw()] {
        user.install(&look_alike_file());
        let result = login_with(&service, &user, |n| {
            assert_eq!(n, ["042"]);
            format!("{PREFIX}l1 00 \\/ Ab")
        });
        assert_ok(result);
        assert_eq!(user.parsed().remaining(), 0);
    }
}

#[test]
fn a_second_login_during_a_held_lock_gets_three_other_passwords() {
    if !require() {
        return;
    }
    let user = TestUser::new();
    let sheet = otpw_gen(&user);
    // The lock held by each module in turn, the concurrent login through ours.
    for first_service in [Service::palisade(), Service::otpw()] {
        let second_service = Service::palisade();
        let mut first = Login::start(&first_service, &user);
        let locked = first.prompt();
        assert_eq!(locked.len(), 1);
        assert_eq!(user.lock().as_deref(), Some(locked[0].as_str()));
        for _ in 0..3 {
            let mut second = Login::start(&second_service, &user);
            let triple = second.prompt();
            assert_eq!(triple.len(), 3, "{}", second.text());
            assert!(
                !triple.contains(&locked[0]),
                "{triple:?} includes the locked {locked:?}"
            );
            second.answer(&sheet.answer(&triple));
            assert_ok(second.finish());
            assert_eq!(
                user.lock().as_deref(),
                Some(locked[0].as_str()),
                "the first login still holds it"
            );
        }
        first.answer(&sheet.answer(&locked));
        assert_ok(first.finish());
        assert_eq!(user.lock(), None);
    }
    // OTPW honours our lock with a triple challenge too (though, its known flaw, that triple
    // may include the locked password, so only the triple itself is checked here).
    let ours = Service::palisade();
    let mut first = Login::start(&ours, &user);
    let locked = first.prompt();
    let otpw = Service::otpw();
    let mut second = Login::start(&otpw, &user);
    let triple = second.prompt();
    assert_eq!(triple.len(), 3, "{}", second.text());
    second.answer(&sheet.answer(&triple));
    assert_ok(second.finish());
    assert_eq!(
        user.lock().as_deref(),
        Some(locked[0].as_str()),
        "pam_otpw keeps our lock (it removes one whose target is not a bare number)"
    );
    first.answer(&sheet.answer(&locked));
    let (first_ok, text) = first.finish();
    assert_eq!(first_ok, !triple.contains(&locked[0]), "{text}");
    assert_eq!(user.lock(), None);
    let first_burnt = usize::from(first_ok);
    assert_eq!(
        user.parsed().remaining(),
        50 - 2 * (1 + 3 * 3) - 3 - first_burnt
    );
}

#[test]
fn two_concurrent_logins_both_succeed_with_different_passwords() {
    if !require() {
        return;
    }
    let user = TestUser::new();
    let sheet = palisade_gen(&user, 30);
    let service = Service::palisade();
    let mut a = Login::start(&service, &user);
    let mut b = Login::start(&service, &user);
    let (na, nb) = (a.prompt(), b.prompt());
    assert_eq!(
        na.len() + nb.len(),
        4,
        "one single, one triple: {na:?} {nb:?}"
    );
    assert!(na.iter().all(|n| !nb.contains(n)));
    b.answer(&sheet.answer(&nb));
    a.answer(&sheet.answer(&na));
    assert_ok(a.finish());
    assert_ok(b.finish());
    assert_eq!(user.parsed().remaining(), 26);
    assert_eq!(user.lock(), None);
}

#[test]
fn no_file_or_none_left_is_authinfo_unavail() {
    if !require() {
        return;
    }
    let user = TestUser::new();
    let service = Service::palisade();
    let (ok, text) = Login::start(&service, &user).finish();
    assert!(!ok && text.contains(AUTHINFO_UNAVAIL), "{text}");
    user.install(&HashFile::new(3, 8, vec![Entry::Used, Entry::Used]));
    let (ok, text) = Login::start(&service, &user).finish();
    assert!(!ok && text.contains(AUTHINFO_UNAVAIL), "{text}");
    assert!(text.contains("no one-time passwords left"), "{text}");
}

#[test]
fn unsafe_or_malformed_files_are_refused_with_a_reason() {
    if !require() {
        return;
    }
    let user = TestUser::new();
    let service = Service::palisade();
    let cases: [(&str, &str); 3] = [
        ("chmod 620", "lets group or others write it"),
        ("chown root", "owned by uid 0, not by the user"),
        ("truncate", "the file ends after"),
    ];
    for (change, reason) in cases {
        user.install(&look_alike_file());
        match change {
            "chmod 620" => run(Command::new("chmod").arg("620").arg(user.hash_file())),
            "chown root" => run(Command::new("chown").arg("root").arg(user.hash_file())),
            _ => run(Command::new("truncate")
                .args(["-s", "20"])
                .arg(user.hash_file())),
        };
        let (ok, text) = Login::start(&service, &user).finish();
        assert!(
            !ok && text.contains(AUTHINFO_UNAVAIL) && text.contains(reason),
            "{change}: {text}"
        );
    }
}

#[test]
fn a_burnt_password_stays_burnt_when_the_process_is_killed_after_success() {
    if !require() {
        return;
    }
    let user = TestUser::new();
    let sheet = palisade_gen(&user, 20);
    let service = Service::palisade();
    let mut login = Login::start(&service, &user);
    let numbers = login.prompt();
    login.answer(&sheet.answer(&numbers));
    // The moment PAM reports success, kill pamtester before it can end the PAM session.
    assert!(
        login.read_until(|t| t.contains("successfully authenticated")),
        "{}",
        login.text()
    );
    login.kill();
    assert_eq!(
        user.parsed().remaining(),
        19,
        "burnt before success was reported"
    );
    assert_eq!(user.lock(), None, "released before success was reported");
    assert_refused(
        login_with(&service, &user, |_| sheet.answer(&numbers)),
        AUTH_ERR,
    );
}

#[test]
fn an_abandoned_login_releases_its_lock() {
    if !require() {
        return;
    }
    let user = TestUser::new();
    palisade_gen(&user, 20);
    let service = Service::palisade();
    let mut login = Login::start(&service, &user);
    let numbers = login.prompt();
    assert_eq!(user.lock().as_deref(), Some(numbers[0].as_str()));
    drop(login.child.stdin.take()); // end of input: the conversation fails
    let (ok, _) = login.finish();
    assert!(!ok);
    assert_eq!(user.lock(), None);
    assert_eq!(user.parsed().remaining(), 20);
}

#[test]
fn repeated_failures_lock_one_time_passwords_out() {
    if !require() {
        return;
    }
    let user = TestUser::new();
    let sheet = palisade_gen(&user, 20);
    let service = Service::palisade();
    // Nine failures are on record; the tenth, made now, starts the lock-out.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    std::fs::write(user.home.join(".otpw.failures"), format!("9 {now}\n")).unwrap();
    assert_refused(
        login_with(&service, &user, |_| format!("{PREFIX}AAAAAAAA")),
        AUTH_ERR,
    );
    // Now even the right answer is not asked for.
    let (ok, text) = Login::start(&service, &user).finish();
    assert!(
        !ok && text.contains(AUTH_ERR) && text.contains("10 failed one-time passwords in a row"),
        "{text}"
    );
    assert!(!text.contains("Password "), "{text}");
    // Once the lock-out is over (recorded long ago), the right answer works and clears it.
    std::fs::write(
        user.home.join(".otpw.failures"),
        format!("10 {}\n", now - 3600),
    )
    .unwrap();
    assert_ok(login_with(&service, &user, |n| sheet.answer(n)));
    assert!(!user.home.join(".otpw.failures").exists());
}

#[test]
fn status_reports_remaining_and_the_lock() {
    if !require() {
        return;
    }
    let user = TestUser::new();
    let sheet = palisade_gen(&user, 20);
    let status = || {
        run(Command::new(env!("CARGO_BIN_EXE_palisade"))
            .args(["otp", "status", "--user", &user.name]))
    };
    let text = status();
    assert!(
        text.contains("20 of 20 one-time passwords left.") && text.contains("not locked"),
        "{text}"
    );
    let service = Service::palisade();
    let mut login = Login::start(&service, &user);
    let numbers = login.prompt();
    let text = status();
    assert!(
        text.contains(&format!("a login is answering password {}", numbers[0])),
        "{text}"
    );
    login.answer(&sheet.answer(&numbers));
    assert_ok(login.finish());
    assert!(status().contains("19 of 20"));
}
