//! The harness of the OTP tests: throw-away users and PAM service files, sheets from
//! `otpw-gen` and `palisade otp gen`, and `pamtester` runs read as they come.

use palisade_otp::{otpw_hash, Entry, HashFile};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const PREFIX: &str = "geHeim";
pub const OTPW_MODULE_DIRS: [&str; 3] = [
    "/lib/security",
    "/lib/x86_64-linux-gnu/security",
    "/usr/lib/x86_64-linux-gnu/security",
];
pub const WAIT: Duration = Duration::from_secs(30);

/// Root and the reference tools are needed; under CI their absence is a failure.
pub fn require() -> bool {
    // SAFETY: no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let tools = ["pamtester", "otpw-gen", "useradd"].iter().all(|t| {
        Command::new("sh")
            .args(["-c", &format!("command -v {t}")])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if root && tools && otpw_module().is_some() {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("the OTP tests need root, pamtester, otpw-gen and pam_otpw.so (scripts/deps.sh), and CI=true forbids skipping them");
    }
    eprintln!("skipping: needs root, pamtester, otpw-gen and pam_otpw.so (run scripts/deps.sh)");
    false
}

pub fn otpw_module() -> Option<PathBuf> {
    OTPW_MODULE_DIRS
        .iter()
        .map(|d| Path::new(d).join("pam_otpw.so"))
        .find(|p| p.exists())
}

/// `pam_palisade.so` as built for these tests (palisade depends on the module's crate, so
/// cargo builds it into the same `deps` directory as this test binary).
pub fn palisade_module() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let so = exe.parent().unwrap().join("libpam_palisade.so");
    assert!(so.exists(), "{} was not built", so.display());
    so
}

pub fn unique() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{}{}",
        std::process::id() % 100_000,
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// useradd and userdel lock /etc/passwd; tests run in parallel, so take turns.
pub static ACCOUNTS: Mutex<()> = Mutex::new(());

pub fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A throw-away user whose home is a fresh temporary directory.
pub struct TestUser {
    pub name: String,
    pub home: PathBuf,
}

impl TestUser {
    pub fn new() -> TestUser {
        TestUser::with_shell("/usr/sbin/nologin")
    }

    pub fn with_shell(shell: &str) -> TestUser {
        let name = format!("potp{}", unique());
        let home = std::env::temp_dir().join(format!("palisade-otp-{name}"));
        let _turn = ACCOUNTS.lock().unwrap_or_else(|e| e.into_inner());
        run(Command::new("useradd")
            .args(["-M", "-U", "-s", shell, "-d"])
            .arg(&home)
            .arg(&name));
        let user = TestUser { name, home };
        std::fs::create_dir(&user.home).unwrap();
        run(Command::new("chown")
            .arg(format!("{0}:{0}", user.name))
            .arg(&user.home));
        run(Command::new("chmod").arg("700").arg(&user.home));
        user
    }

    pub fn hash_file(&self) -> PathBuf {
        self.home.join(".otpw")
    }

    pub fn lock(&self) -> Option<String> {
        std::fs::read_link(self.home.join(".otpw.lock"))
            .ok()
            .map(|t| t.display().to_string())
    }

    pub fn parsed(&self) -> HashFile {
        HashFile::parse(&std::fs::read(self.hash_file()).unwrap()).unwrap()
    }

    /// Give the user a file written by us (owned by them, mode 0600).
    pub fn install(&self, file: &HashFile) {
        std::fs::write(self.hash_file(), file.to_bytes()).unwrap();
        run(Command::new("chown").arg(&self.name).arg(self.hash_file()));
        run(Command::new("chmod").arg("600").arg(self.hash_file()));
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        let _turn = ACCOUNTS.lock().unwrap_or_else(|e| e.into_inner());
        let _ = Command::new("userdel").arg(&self.name).output();
        let _ = std::fs::remove_dir_all(&self.home);
    }
}

/// A PAM service file for one test, removed when dropped.
pub struct Service {
    pub name: String,
    pub path: PathBuf,
}

impl Service {
    pub fn new(module: &Path) -> Service {
        let name = format!("palisade-otp-test-{}", unique());
        let path = Path::new("/etc/pam.d").join(&name);
        let debug = if module == palisade_module() {
            " debug"
        } else {
            ""
        };
        std::fs::write(
            &path,
            format!(
                "auth required {m}{debug}\naccount required pam_permit.so\nsession optional {m}\n",
                m = module.display()
            ),
        )
        .unwrap();
        Service { name, path }
    }
    pub fn palisade() -> Service {
        Service::new(&palisade_module())
    }
    pub fn otpw() -> Service {
        Service::new(&otpw_module().unwrap())
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// A printed sheet: password by number.
pub struct Sheet(pub HashMap<String, String>);

impl Sheet {
    pub fn parse(text: &str) -> Sheet {
        let mut map = HashMap::new();
        for cell in text.lines().flat_map(|l| l.split("  ")) {
            let parts: Vec<&str> = cell.split(' ').collect();
            if let [n, a, b] = parts[..] {
                if n.len() == 3 && n.bytes().all(|c| c.is_ascii_digit()) {
                    map.insert(n.to_string(), format!("{a}{b}"));
                }
            }
        }
        assert!(!map.is_empty(), "no passwords in:\n{text}");
        Sheet(map)
    }

    /// The prefix followed by the passwords asked for.
    pub fn answer(&self, numbers: &[String]) -> String {
        let mut s = PREFIX.to_string();
        for n in numbers {
            s.push_str(&self.0[n]);
        }
        s
    }
}

/// Run a sheet generator, typing the prefix twice on its standard input; its printed sheet.
pub fn generate_sheet(cmd: &mut Command) -> Sheet {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let prefix_twice = format!("{PREFIX}\n{PREFIX}\n");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(prefix_twice.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Sheet::parse(&String::from_utf8_lossy(&out.stdout))
}

/// A sheet from Debian's otpw-gen (50 passwords: 10 rows of 5).
pub fn otpw_gen(user: &TestUser) -> Sheet {
    let sheet = generate_sheet(
        Command::new("otpw-gen")
            .args(["-h", "14", "-f"])
            .arg(user.hash_file()),
    );
    run(Command::new("chown").arg(&user.name).arg(user.hash_file()));
    sheet
}

/// A sheet from `palisade otp gen`.
pub fn palisade_gen(user: &TestUser, count: usize) -> Sheet {
    let count = count.to_string();
    generate_sheet(Command::new(env!("CARGO_BIN_EXE_palisade")).args([
        "otp", "gen", "--force", "--user", &user.name, "--count", &count,
    ]))
}

/// One `pamtester` run: `authenticate` then `open_session`, its output read as it comes.
pub struct Login {
    pub child: Child,
    output: Receiver<u8>,
    seen: Vec<u8>,
}

impl Login {
    pub fn start(service: &Service, user: &TestUser) -> Login {
        let mut child = Command::new("sh")
            .args([
                "-c",
                "exec pamtester -v \"$0\" \"$1\" authenticate open_session 2>&1",
            ])
            .args([&service.name, &user.name])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut byte = [0u8; 1];
            while let Ok(1) = stdout.read(&mut byte) {
                if tx.send(byte[0]).is_err() {
                    break;
                }
            }
        });
        Login {
            child,
            output: rx,
            seen: Vec::new(),
        }
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.seen).into_owned()
    }

    /// Read until `done` holds for the output so far; false at the end of the output.
    pub fn read_until(&mut self, done: impl Fn(&str) -> bool) -> bool {
        let deadline = Instant::now() + WAIT;
        while !done(&self.text()) {
            match self
                .output
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(b) => self.seen.push(b),
                Err(RecvTimeoutError::Disconnected) => return false,
                Err(RecvTimeoutError::Timeout) => {
                    panic!("pamtester is silent; so far:\n{}", self.text())
                }
            }
        }
        true
    }

    /// Wait for `Password NNN: ` or `Password NNN/NNN/NNN: ` and return the numbers.
    pub fn prompt(&mut self) -> Vec<String> {
        let found = self.read_until(|t| t.ends_with(": ") && t.contains("Password "));
        assert!(found, "no prompt:\n{}", self.text());
        let text = self.text();
        let numbers = text
            .rsplit("Password ")
            .next()
            .unwrap()
            .trim_end_matches(": ");
        numbers.split('/').map(str::to_string).collect()
    }

    pub fn answer(&mut self, text: &str) {
        let stdin = self.child.stdin.as_mut().unwrap();
        stdin.write_all(format!("{text}\n").as_bytes()).unwrap();
        stdin.flush().unwrap();
    }

    /// Everything pamtester said, and whether authentication succeeded.
    pub fn finish(mut self) -> (bool, String) {
        self.read_until(|_| false);
        let status = self.child.wait().unwrap();
        let text = self.text();
        (
            status.success() && text.contains("successfully authenticated"),
            text,
        )
    }
}

impl Login {
    /// SIGKILL to pamtester, as a crash or `kill -9` would end a login: no PAM cleanup runs.
    pub fn kill(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Drop for Login {
    /// A test that fails half-way must not leave a `pamtester` waiting for input forever.
    fn drop(&mut self) {
        self.kill();
    }
}

/// One complete login answering the challenge from `sheet` (via `transform`).
pub fn login_with(
    service: &Service,
    user: &TestUser,
    answer: impl Fn(&[String]) -> String,
) -> (bool, String) {
    let mut login = Login::start(service, user);
    let numbers = login.prompt();
    login.answer(&answer(&numbers));
    login.finish()
}

pub fn assert_ok((ok, text): (bool, String)) -> String {
    assert!(ok, "login failed:\n{text}");
    text
}

pub fn assert_refused((ok, text): (bool, String), why: &str) {
    assert!(!ok && text.contains(why), "expected `{why}`:\n{text}");
}

pub const AUTH_ERR: &str = "Authentication failure";
pub const AUTHINFO_UNAVAIL: &str = "Authentication service cannot retrieve authentication info";

/// A file with one known password made of look-alike characters.
pub fn look_alike_file() -> HashFile {
    HashFile::new(
        3,
        8,
        vec![Entry::Unused {
            number: 42,
            hash: otpw_hash(PREFIX.as_bytes(), b"IIOO//Ab"),
        }],
    )
}

pub fn uid_of(name: &str) -> Option<u32> {
    run(Command::new("id").args(["-u", name]))
        .trim()
        .parse()
        .ok()
}
