//! The demo's one-time password scene: a new sheet for a throw-away user, one password
//! verified through real PAM (`pamtester` loading `pam_palisade.so`), then the same password
//! refused the second time. The user, its home and the PAM service file exist only for the
//! scene and are removed afterwards, also on failure. Nothing of the network is touched.

use anyhow::{bail, Context, Result};
use palisade_otp::{Challenge, HashFile};
use pam_palisade::account::{as_user, Account};
use pam_palisade::files;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Instant;

const PREFIX: &str = "demo-prefix";

/// Where `pam_palisade.so` may be: built beside this binary (cargo puts it in `deps/`), or
/// installed among the system's PAM modules.
fn find_module() -> Option<PathBuf> {
    let exe_dir = std::env::current_exe().ok()?.parent()?.to_path_buf();
    [
        exe_dir.join("deps/libpam_palisade.so"),
        exe_dir.join("libpam_palisade.so"),
        "/lib/x86_64-linux-gnu/security/pam_palisade.so".into(),
        "/usr/lib/x86_64-linux-gnu/security/pam_palisade.so".into(),
        "/lib/security/pam_palisade.so".into(),
    ]
    .into_iter()
    .find(|p| p.exists())
}

/// Removes the scene's user, home and PAM service file.
struct Cleanup {
    user: Option<String>,
    home: PathBuf,
    service: PathBuf,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.service);
        if let Some(user) = &self.user {
            let _ = Command::new("userdel").arg(user).output();
        }
        let _ = std::fs::remove_dir_all(&self.home);
    }
}

pub fn run() -> Result<()> {
    println!("\n== 11. One-time passwords for SSH, checked by pam_palisade.so through real PAM");
    let (Some(module), true) = (find_module(), has("pamtester")) else {
        println!("skipped: needs pam_palisade.so (cargo build -p pam-palisade) and pamtester (scripts/deps.sh)");
        return Ok(());
    };
    let id = std::process::id();
    let name = format!("pdemo{id}");
    let mut cleanup = Cleanup {
        user: None,
        home: std::env::temp_dir().join(format!("palisade-demo-otp-{id}")),
        service: PathBuf::from(format!("/etc/pam.d/palisade-demo-{id}")),
    };
    let status = Command::new("useradd")
        .args(["-M", "-U", "-s", "/usr/sbin/nologin", "-d"])
        .arg(&cleanup.home)
        .arg(&name)
        .status()
        .context("running useradd")?;
    if !status.success() {
        bail!("useradd {name} failed");
    }
    cleanup.user = Some(name.clone());
    let account = Account::lookup(&name).context("the demo user vanished")?;
    std::fs::create_dir(&cleanup.home)?;
    std::os::unix::fs::chown(&cleanup.home, Some(account.uid), Some(account.gid))?;
    std::fs::write(
        &cleanup.service,
        format!(
            "auth required {m}\naccount required pam_permit.so\nsession optional {m}\n",
            m = module.display()
        ),
    )?;
    println!(
        "throw-away user {name}, PAM service {} loading {}",
        cleanup.service.display(),
        module.display()
    );

    let mut random = |buf: &mut [u8]| getrandom::fill(buf).expect("OS random source");
    let sheet = palisade_otp::generate(PREFIX.as_bytes(), 280, &mut random)?;
    as_user(&account, || {
        files::write_atomically(&files::hash_path(&account.home), &sheet.file.to_bytes())
    })??;
    let printed = palisade_otp::render_sheet("palisade otp gen", &sheet.passwords);
    println!("palisade otp gen: 280 passwords on the sheet, only their hashes in ~/.otpw:");
    for line in printed.lines().skip(2).take(3) {
        println!("  {line}");
    }
    println!("  ...");

    // The challenge is the first unused entry in file order, so the answer is known upfront.
    let challenge = Challenge::single(&sheet.file).context("a new sheet has passwords")?;
    let number = challenge.numbers(&sheet.file).remove(0);
    let otp = String::from_utf8_lossy(&sheet.passwords[number.parse::<usize>()?]).into_owned();
    let answer = format!("{PREFIX}{otp}");
    let service = cleanup
        .service
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    login(
        &service,
        &name,
        &answer,
        &format!("{PREFIX} + {} {}", &otp[..4], &otp[4..]),
    )?;
    let remaining = HashFile::parse(&std::fs::read(files::hash_path(&account.home))?)?.remaining();
    println!("  ~/.otpw: entry {number} overwritten with `-` and synced to disk, {remaining} left");
    println!("the same password again (the module now asks for another number):");
    login(
        &service,
        &name,
        &answer,
        &format!("{PREFIX} + {} {} again", &otp[..4], &otp[4..]),
    )?;
    Ok(())
}

fn has(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// One `pamtester` login answering `answer`; prints the prompt and the verdict.
fn login(service: &str, user: &str, answer: &str, shown: &str) -> Result<()> {
    let t = Instant::now();
    // One stream, in order: the prompt, then pamtester's verdict.
    let mut child = Command::new("sh")
        .args(["-c", "exec pamtester \"$0\" \"$1\" authenticate 2>&1"])
        .args([service, user])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("running pamtester")?;
    child
        .stdin
        .take()
        .context("pamtester's input")?
        .write_all(format!("{answer}\n").as_bytes())?;
    let out = child.wait_with_output()?;
    let said =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let prompt = said
        .split("pamtester:")
        .next()
        .unwrap_or("")
        .trim()
        .to_string();
    let verdict = if out.status.success() {
        "accepted".to_string()
    } else {
        let why = said.rsplit("pamtester: ").next().unwrap_or("").trim();
        format!("refused ({why})")
    };
    println!(
        "  {prompt} {shown} -> {verdict} in {} ms",
        t.elapsed().as_millis()
    );
    Ok(())
}
