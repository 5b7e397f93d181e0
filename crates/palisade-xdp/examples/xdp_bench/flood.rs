//! Drops per second on one core under a flood from a listed source.
//!
//! trafgen (netsniff-ng) writes one fixed 60-byte UDP frame from the listed source, as fast as
//! it can, into the client's end of a veth pair, pinned to CPU 0 with `-P 1`. A veth transmit
//! hands the frame to the host end on the same CPU (through the backlog queue, or through the
//! host end's NAPI when a native XDP program is attached there), so the whole path, sending
//! and dropping, runs on that one core: a cheaper drop shows as more packets per second. The
//! drop counter of each mechanism gives the rate: palisade's per-set XDP counter, or the
//! nftables rule's counter.
//!
//! What this can and cannot show: a veth transmit builds an skb before the receiving end sees
//! the frame, so even native XDP on veth drops a packet that already cost an skb, and
//! trafgen's own per-packet work shares the core. The rates therefore mostly measure the
//! sender; `inject` measures the receive path alone.
//!
//! trafgen runs with `--no-sock-mem --notouch-irq` so it leaves the host's socket-memory sysctls and IRQ affinities
//! alone.

use std::os::unix::process::CommandExt;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use palisade_xdp::Mode;

use crate::arm::{arm, Mechanism};
use crate::lab::Lab;

pub fn run(quick: bool) -> Result<(), String> {
    if std::process::Command::new("trafgen")
        .arg("-v")
        .output()
        .is_err()
    {
        return Err("trafgen not found: install netsniff-ng (scripts/deps.sh does)".into());
    }
    let window = Duration::from_millis(if quick { 700 } else { 5_000 });
    let rounds = if quick { 1 } else { 3 };
    let mechanisms = [
        Mechanism::Xdp(Mode::Native),
        Mechanism::Xdp(Mode::Generic),
        Mechanism::NftRaw,
        Mechanism::NftInput,
    ];
    println!(
        "flood over veth (trafgen): one listed IPv4 source, 60-byte UDP frames, sender and \
         receiver on CPU 0; median of {rounds} window(s) of {window:?}"
    );
    let rates = crate::measure_all(&mechanisms, rounds, |m| measure(m, window))?;
    crate::print_ratios(&rates);
    Ok(())
}

/// One measurement window in a fresh lab: drops per second.
fn measure(m: Mechanism, window: Duration) -> Result<f64, String> {
    let armed = arm(m, false)?;
    let cfg = armed.lab.bpf.path.with_extension("trafgen");
    let bytes: Vec<String> = armed.frame().iter().map(|b| format!("0x{b:02x}")).collect();
    std::fs::write(&cfg, format!("{{ {} }}\n", bytes.join(", "))).map_err(|e| e.to_string())?;
    let mut flood = Flood::start(&armed.lab, cfg.to_str().unwrap())?;
    // Wait until the flood is under way before the window opens.
    let started = Instant::now();
    while armed.dropped()? == 0 {
        if started.elapsed() > Duration::from_secs(10) {
            return Err(format!("{}: no packet dropped after 10 s", m.name()));
        }
        flood.check()?;
        std::thread::sleep(Duration::from_millis(20));
    }
    let (c0, t0) = (armed.dropped()?, Instant::now());
    std::thread::sleep(window);
    let (c1, t1) = (armed.dropped()?, Instant::now());
    drop(flood);
    let _ = std::fs::remove_file(&cfg);
    Ok((c1 - c0) as f64 / (t1 - t0).as_secs_f64())
}

/// trafgen in the client namespace, in a process group of its own so that stopping it stops
/// the worker it forks.
struct Flood(Child);

impl Flood {
    fn start(lab: &Lab, cfg: &str) -> Result<Flood, String> {
        let child = lab
            .client
            .command("taskset")
            .args([
                "-c",
                "0",
                "trafgen",
                "--no-sock-mem",
                "--notouch-irq",
                "-C",
                "-P",
                "1",
            ])
            .args(["--dev", &lab.client_if, "--conf", cfg])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .map_err(|e| format!("starting trafgen: {e}"))?;
        Ok(Flood(child))
    }

    fn check(&mut self) -> Result<(), String> {
        match self.0.try_wait() {
            Ok(Some(status)) => Err(format!("trafgen exited early: {status}")),
            _ => Ok(()),
        }
    }
}

impl Drop for Flood {
    fn drop(&mut self) {
        let pgid = self.0.id() as i32;
        // SIGKILL: trafgen inherits this process's mask, in which palisade_lab's signal
        // handling blocks SIGINT and SIGTERM. trafgen keeps no state that outlives it.
        // SAFETY: signals the process group this process created for trafgen, nothing else.
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
        let _ = self.0.wait();
    }
}
