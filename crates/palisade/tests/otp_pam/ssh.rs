//! End to end through a real sshd.

use crate::harness::*;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A throw-away directory, removed when dropped.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An sshd of the test's own on a loopback port, stopped when dropped.
struct Sshd(Child);

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// End to end: a real sshd on 127.0.0.1 asks, after the key, for a one-time password
/// through pam_palisade.so (keyboard-interactive), and `ssh` answers it through SSH_ASKPASS
/// from the printed sheet.
#[test]
fn ssh_login_with_key_and_one_time_password() {
    if !require() {
        return;
    }
    let sshd_path = Path::new("/usr/sbin/sshd");
    if !sshd_path.exists() {
        if std::env::var_os("CI").is_some() {
            panic!("the sshd test needs openssh-server (scripts/deps.sh), and CI=true forbids skipping it");
        }
        eprintln!("skipping: needs openssh-server");
        return;
    }
    let user = TestUser::with_shell("/bin/sh");
    let sheet = palisade_gen(&user, 20);
    let dir = TempDir(std::env::temp_dir().join(format!("palisade-otp-sshd-{}", unique())));
    std::fs::create_dir(&dir.0).unwrap();
    let d = &dir.0;
    for key in ["hostkey", "clientkey"] {
        run(Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(d.join(key)));
    }
    std::fs::copy(d.join("clientkey.pub"), d.join("authorized_keys")).unwrap();
    // sshd names its PAM service after the program, so a link gives it a service of its own.
    let service = Service::palisade();
    let program = d.join(&service.name);
    std::os::unix::fs::symlink(sshd_path, &program).unwrap();
    std::fs::create_dir_all("/run/sshd").unwrap(); // sshd's privilege separation directory
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = d.join("sshd_config");
    std::fs::write(
        &config,
        format!(
            "ListenAddress 127.0.0.1\nPort {port}\nHostKey {d}/hostkey\nPidFile none\n\
             UsePAM yes\nKbdInteractiveAuthentication yes\nPasswordAuthentication no\n\
             PubkeyAuthentication yes\nAuthenticationMethods publickey,keyboard-interactive\n\
             AuthorizedKeysFile {d}/authorized_keys\nStrictModes no\n",
            d = d.display()
        ),
    )
    .unwrap();
    let _sshd = Sshd(
        Command::new(&program)
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(d.join("sshd.log")).unwrap())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + WAIT;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "sshd did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    // SSH_ASKPASS gets the prompt as its argument and prints the answer.
    let map: String = sheet.0.iter().map(|(n, p)| format!("{n} {p}\n")).collect();
    std::fs::write(d.join("sheet.map"), map).unwrap();
    let askpass = d.join("askpass");
    std::fs::write(
        &askpass,
        format!(
            "#!/bin/sh\necho \"$1\" >> {d}/prompts\n\
             nums=$(printf '%s' \"$1\" | sed -n 's|.*Password \\([0-9/]*\\): *$|\\1|p')\n\
             out=\"$PALISADE_TEST_PREFIX\"\n\
             for n in $(echo \"$nums\" | tr / ' '); do out=\"$out$(grep \"^$n \" {d}/sheet.map | cut -d' ' -f2)\"; done\n\
             printf '%s\\n' \"$out\"\n",
            d = d.display()
        ),
    )
    .unwrap();
    run(Command::new("chmod").arg("755").arg(&askpass));
    let ssh = |prefix: &str| {
        Command::new("ssh")
            .args(["-p", &port.to_string(), "-i"])
            .arg(d.join("clientkey"))
            .args([
                "-o",
                "IdentitiesOnly=yes",
                "-o",
                "UserKnownHostsFile=/dev/null",
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "LogLevel=ERROR",
                "-o",
                "PreferredAuthentications=publickey,keyboard-interactive",
                "-o",
                "NumberOfPasswordPrompts=1",
                "-o",
                "ConnectTimeout=20",
            ])
            .arg(format!("{}@127.0.0.1", user.name))
            .arg("echo logged-in as $(id -un)")
            .env("SSH_ASKPASS", &askpass)
            .env("SSH_ASKPASS_REQUIRE", "force")
            .env("DISPLAY", "none")
            .env("PALISADE_TEST_PREFIX", prefix)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let log = || std::fs::read_to_string(d.join("sshd.log")).unwrap_or_default();

    let out = ssh(PREFIX);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && said.contains(&format!("logged-in as {}", user.name)),
        "{said}\n{}",
        log()
    );
    let prompts = std::fs::read_to_string(d.join("prompts")).unwrap();
    assert!(prompts.contains("Password "), "{prompts}");
    assert!(
        log().contains("Accepted keyboard-interactive/pam"),
        "{}",
        log()
    );
    assert_eq!(user.parsed().remaining(), 19);

    let out = ssh("wrong");
    assert!(!out.status.success(), "{}", log());
    assert_eq!(user.parsed().remaining(), 19);
    assert_eq!(user.lock(), None);
}
