//! The demo's fleet scene: a NATS server with JetStream and two palisade hosts, each in a
//! namespace of its own on one bridge, each running `palisade fleet run`. One `palisade
//! block` on host A, and both hosts' kernels drop the attacker: A's from its blocklist, B's
//! from the `fleet` set, a few milliseconds later. Skipped, with a message, when nats-server
//! is not installed (the demo shows; the tests prove).

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use palisade_lab::Netns;

const NATS: Ipv4Addr = Ipv4Addr::new(10, 78, 0, 1);
const HOSTS: [(&str, Ipv4Addr); 2] = [
    ("web-a", Ipv4Addr::new(10, 78, 0, 11)),
    ("web-b", Ipv4Addr::new(10, 78, 0, 12)),
];
const ATTACKER: Ipv4Addr = Ipv4Addr::new(10, 78, 0, 66);
const PORT: u16 = 80;

/// A child process stopped (SIGTERM) and waited for on drop.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGTERM) };
        let _ = self.0.wait();
    }
}

/// One namespace attached to the bridge in `switch`, with `addr`.
fn attach(switch: &Netns, role: &str, addr: Ipv4Addr) -> Result<Netns> {
    let ns = Netns::create(role)?;
    let (_, outside) = palisade_lab::link(&ns, &[&format!("{addr}/24")], switch, &[])?;
    switch.ip(&["link", "set", &outside, "master", "br0"])?;
    Ok(ns)
}

fn wait_for(limit: Duration, mut done: impl FnMut() -> bool) -> Option<Duration> {
    let t = Instant::now();
    while t.elapsed() < limit {
        if done() {
            return Some(t.elapsed());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    None
}

struct Host {
    name: &'static str,
    ns: Netns,
    state: PathBuf,
}

impl Host {
    fn palisade(&self, exe: &Path, args: &[&str]) -> Command {
        let mut c = Command::new(exe);
        c.env("PALISADE_STATE_DIR", &self.state)
            .args(["--netns", self.ns.name()])
            .args(args);
        c
    }

    fn holds(&self, exe: &Path, set: &str) -> bool {
        self.palisade(exe, &["set", "test", set, &ATTACKER.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }
}

/// A connection from the attacker to `host`, in one line.
fn attempt(attacker: &Netns, name: &str, host: Ipv4Addr) -> Result<()> {
    let dest = SocketAddr::new(IpAddr::V4(host), PORT);
    let r = attacker.run(move || {
        palisade_lab::connect_from(IpAddr::V4(ATTACKER), dest, Duration::from_millis(800))
    })?;
    match r {
        Ok(_) => println!("  {ATTACKER} -> {name} ({host}:{PORT}): connected"),
        Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
            println!("  {ATTACKER} -> {name} ({host}:{PORT}): no answer: dropped")
        }
        Err(e) => println!("  {ATTACKER} -> {name} ({host}:{PORT}): {e}"),
    }
    Ok(())
}

pub fn scene() -> Result<()> {
    let nats_ok = Command::new("nats-server")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !nats_ok {
        println!("skipped: nats-server is not installed (apt-get install nats-server, or scripts/deps.sh)");
        return Ok(());
    }
    let exe = crate::palisade_binary()?;
    let dir = std::env::temp_dir().join(format!("palisade-demo-fleet-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let _cleanup = crate::TempDir(dir.clone());

    let switch = Netns::create("demo-sw")?;
    switch.ip(&["link", "add", "br0", "type", "bridge"])?;
    switch.ip(&["link", "set", "br0", "up"])?;
    let nats_ns = attach(&switch, "demo-nats", NATS)?;
    let attacker = attach(&switch, "demo-atk", ATTACKER)?;
    let conf = dir.join("nats.conf");
    std::fs::write(
        &conf,
        format!(
            "server_name: demo\nlisten: \"{NATS}:4222\"\njetstream {{\n  store_dir: \"{}\"\n}}\n",
            dir.join("js").display()
        ),
    )?;
    let _nats = Running(
        nats_ns
            .command("nats-server")
            .args(["-c", conf.to_str().context("temp path")?])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting nats-server")?,
    );
    let up = wait_for(Duration::from_secs(10), || {
        nats_ns
            .run(|| TcpStream::connect_timeout(&(NATS, 4222).into(), Duration::from_millis(100)))
            .is_ok_and(|r| r.is_ok())
    });
    if up.is_none() {
        bail!("nats-server did not come up in its namespace");
    }
    println!(
        "NATS with JetStream in namespace {} ({NATS}:4222)",
        nats_ns.name()
    );

    let mut hosts = Vec::new();
    let mut keys = Vec::new();
    for (name, addr) in HOSTS {
        let ns = attach(&switch, &format!("demo-{name}"), addr)?;
        let l = ns.run(|| TcpListener::bind((Ipv4Addr::UNSPECIFIED, PORT)))??;
        std::thread::spawn(move || l.incoming().for_each(drop));
        let host = Host {
            name,
            ns,
            state: dir.join(format!("state-{name}")),
        };
        let key = dir.join(format!("{name}.key"));
        let out = host
            .palisade(&exe, &["fleet", "keygen", "--host", name, "--key-file"])
            .arg(&key)
            .stderr(Stdio::null())
            .output()?;
        keys.push((key, String::from_utf8_lossy(&out.stdout).trim().to_string()));
        hosts.push(host);
    }
    let mut daemons = Vec::new();
    for (i, host) in hosts.iter().enumerate() {
        let (other, other_key) = (HOSTS[1 - i].0, &keys[1 - i].1);
        let text = format!(
            "[fleet]\nhost = \"{}\"\nservers = [\"nats://{NATS}:4222\"]\nkey_file = \"{}\"\n\n[fleet.peers]\n{other} = \"{other_key}\"\n",
            host.name,
            keys[i].0.display()
        );
        let config = dir.join(format!("{}.toml", host.name));
        std::fs::write(&config, &text)?;
        if i == 0 {
            println!(
                "{}'s palisade.toml (keys made by `palisade fleet keygen`):",
                host.name
            );
            text.lines().for_each(|l| println!("  | {l}"));
        }
        let child = host
            .palisade(&exe, &["-q", "fleet", "run", "-c"])
            .arg(&config)
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting palisade fleet run")?;
        daemons.push(Running(child));
    }
    for host in &hosts {
        let ready = wait_for(Duration::from_secs(15), || {
            host.palisade(&exe, &["fleet", "status", "--json"])
                .output()
                .ok()
                .and_then(|o| serde_json::from_slice::<serde_json::Value>(&o.stdout).ok())
                .is_some_and(|s| s["engine"]["caught_up"] == true)
        });
        if ready.is_none() {
            bail!("{}'s fleet daemon did not connect", host.name);
        }
    }
    println!("both hosts run `palisade fleet run`, connected and caught up");
    for (host, (_, addr)) in hosts.iter().zip(HOSTS) {
        attempt(&attacker, host.name, addr)?;
    }

    let (a, b) = (&hosts[0], &hosts[1]);
    println!("on {}: palisade block {ATTACKER} --timeout 10m", a.name);
    let t = Instant::now();
    let status = a
        .palisade(
            &exe,
            &["-q", "block", &ATTACKER.to_string(), "--timeout", "10m"],
        )
        .status()?;
    if !status.success() {
        bail!("palisade block failed on {}", a.name);
    }
    match wait_for(Duration::from_secs(10), || b.holds(&exe, "fleet")) {
        Some(_) => println!(
            "  -> in {}'s kernel (set fleet) {:.1} ms after the block command started \
             (signed by {}, checked by {}; includes starting `palisade set test` to look)",
            b.name,
            t.elapsed().as_secs_f64() * 1000.0,
            a.name,
            b.name
        ),
        None => println!("  -> not seen in {}'s kernel within 10 s", b.name),
    }
    for (host, (_, addr)) in hosts.iter().zip(HOSTS) {
        attempt(&attacker, host.name, addr)?;
    }
    let status = b.palisade(&exe, &["fleet", "status"]).output()?;
    println!("palisade fleet status on {}:", b.name);
    for line in String::from_utf8_lossy(&status.stdout).lines() {
        println!("  | {line}");
    }
    drop(daemons);
    Ok(())
}
