//! The demo's log-watching scene: a password-protected page that logs failed logins the way
//! nginx does, `palisade watch` following that log, and a client guessing passwords until the
//! kernel drops it.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use palisade_lab::Netns;

const PORT: u16 = 8088;

struct Watcher(Child);

impl Drop for Watcher {
    fn drop(&mut self) {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGTERM) };
        let _ = self.0.wait();
    }
}

/// A page behind basic auth that refuses every password and logs each failure as nginx's
/// error.log would.
fn protected_page(ns: &Netns, log: std::path::PathBuf) -> Result<()> {
    let listener = ns.run(|| TcpListener::bind((Ipv4Addr::UNSPECIFIED, PORT)))??;
    std::thread::spawn(move || {
        for (n, s) in listener.incoming().enumerate() {
            let Ok(mut s) = s else { continue };
            let client = s
                .peer_addr()
                .map(|a| a.ip().to_string())
                .unwrap_or_default();
            let mut buf = [0u8; 1024];
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            let _ = s.read(&mut buf);
            let line = format!(
                "2026/11/24 12:00:00 [error] 4242#4242: *{n} user \"admin\": password mismatch, client: {client}, server: demo, request: \"GET / HTTP/1.1\", host: \"demo\"\n"
            );
            if let Ok(mut f) = std::fs::OpenOptions::new().append(true).open(&log) {
                let _ = f.write_all(line.as_bytes());
            }
            let _ = s.write_all(b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"demo\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    Ok(())
}

fn attempt(client: &Netns, source: Ipv4Addr, server: Ipv4Addr) -> Result<String> {
    let t = Instant::now();
    let r = client.run(move || -> std::io::Result<String> {
        let dest = SocketAddr::new(IpAddr::V4(server), PORT);
        let mut s =
            palisade_lab::connect_from(IpAddr::V4(source), dest, Duration::from_millis(800))?;
        s.set_read_timeout(Some(Duration::from_secs(2)))?;
        s.write_all(
            b"GET / HTTP/1.1\r\nHost: demo\r\nAuthorization: Basic YWRtaW46Z3Vlc3M=\r\n\r\n",
        )?;
        let mut reply = String::new();
        s.read_to_string(&mut reply)?;
        Ok(reply.lines().next().unwrap_or("").to_string())
    })?;
    Ok(match r {
        Ok(status) => format!("{status} ({:.1} ms)", t.elapsed().as_secs_f64() * 1000.0),
        Err(e) if e.kind() == std::io::ErrorKind::TimedOut => "no answer: dropped".into(),
        Err(e) => e.to_string(),
    })
}

/// The policy in force during the scene: the web and the protected page open.
const SCENE_POLICY: &str = "[input]\npolicy = \"drop\"\nallow = [\"http\", \"8088/tcp\"]\n";

pub fn scene(
    server_ns: &Netns,
    client: &Netns,
    store: &mut palisade::store::Store,
    source: Ipv4Addr,
    server: Ipv4Addr,
) -> Result<()> {
    crate::policy::apply_text(store, SCENE_POLICY)?;
    let dir = std::env::temp_dir().join(format!("palisade-demo-watch-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let _cleanup = crate::TempDir(dir.clone());
    let log = dir.join("error.log");
    std::fs::write(&log, "")?;
    protected_page(server_ns, log.clone())?;
    let config = dir.join("palisade.toml");
    let text = format!(
        "[jails.nginx-http-auth]\nfile = \"{}\"\nmaxretry = 3\nbantime = \"1m\"\n",
        log.display()
    );
    std::fs::write(&config, &text)?;
    println!("the config:");
    for line in text.lines() {
        println!("  | {line}");
    }
    let exe = crate::palisade_binary()?;
    let child = std::process::Command::new(&exe)
        .env("PALISADE_STATE_DIR", &dir)
        .args(["-q", "--netns", server_ns.name(), "watch", "-c"])
        .arg(&config)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting palisade watch")?;
    let _watcher = Watcher(child);
    std::thread::sleep(Duration::from_millis(500));
    for i in 1..=4 {
        let t = Instant::now();
        let r = attempt(client, source, server)?;
        println!("guess {i} from {source}: {r}");
        if i == 3 {
            // The third failure crosses maxretry: how long until the kernel drops the source.
            let def_ok = wait_banned(server_ns, &exe, &dir, source, Duration::from_secs(2));
            println!(
                "  -> banned by the kernel {:.1} ms after the third failed login{}",
                t.elapsed().as_secs_f64() * 1000.0,
                if def_ok { "" } else { " (not seen in time)" }
            );
        }
    }
    let bans = std::process::Command::new(&exe)
        .env("PALISADE_STATE_DIR", &dir)
        .args(["--netns", server_ns.name(), "bans", "-c"])
        .arg(&config)
        .output()?;
    print!("palisade bans: {}", String::from_utf8_lossy(&bans.stdout));
    Ok(())
}

fn wait_banned(
    ns: &Netns,
    exe: &std::path::Path,
    dir: &std::path::Path,
    a: Ipv4Addr,
    limit: Duration,
) -> bool {
    let t = Instant::now();
    while t.elapsed() < limit {
        let ok = std::process::Command::new(exe)
            .env("PALISADE_STATE_DIR", dir)
            .args(["--netns", ns.name(), "set", "test", "bans", &a.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return true;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    false
}
