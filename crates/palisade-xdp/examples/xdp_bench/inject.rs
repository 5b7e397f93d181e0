//! Drops per second of CPU time with frames injected by the kernel itself.
//!
//! `BPF_PROG_TEST_RUN` in live-frame mode (Linux 5.18+) runs an XDP program on a frame
//! `repeat` times as if each copy had been received on a given interface: a dropped frame goes
//! back to its page pool, a passed one becomes an skb and enters the stack of that interface,
//! all on the calling thread. That is the receive path of a NIC driver without the sender's
//! cost, so it shows what each mechanism costs per packet:
//! - XDP: palisade's program matches the source and drops;
//! - nftables: palisade's program runs with an empty set (one trie miss) and passes; the stack
//!   builds the skb and nftables drops it at prerouting (raw priority) or in input.
//!
//! The rate is frames per second of the thread's CPU time (pinned to CPU 0), which the other
//! work on a shared machine does not inflate; wall-clock rates are printed beside it.

use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::time::{Duration, Instant};

use palisade_lab::inject::{live_frames, pin_to_cpu, thread_cpu_time};

use palisade_xdp::Mode;

use crate::arm::{arm, Mechanism};

pub fn run(quick: bool) -> Result<(), String> {
    let repeat: u32 = if quick { 200_000 } else { 5_000_000 };
    let rounds = if quick { 1 } else { 3 };
    let mechanisms = [
        Mechanism::Xdp(Mode::Native),
        Mechanism::NftRaw,
        Mechanism::NftInput,
    ];
    println!(
        "inject (BPF_PROG_TEST_RUN live frames): {repeat} 60-byte UDP frames from one listed \
         IPv4 source per round, one thread on CPU 0; median of {rounds} round(s), per CPU second"
    );
    let rates = crate::measure_all(&mechanisms, rounds, |m| measure(m, repeat))?;
    crate::print_ratios(&rates);
    Ok(())
}

fn measure(m: Mechanism, repeat: u32) -> Result<f64, String> {
    let armed = arm(m, true)?;
    let id = armed
        .program_id
        .ok_or("palisade's program is not attached")?;
    let info = aya::programs::loaded_programs()
        .flatten()
        .find(|p| p.id() == id)
        .ok_or_else(|| format!("program {id} not found"))?;
    let fd = info.fd().map_err(|e| e.to_string())?;
    let prog_fd = fd.as_fd().as_raw_fd();
    let frame = armed.frame();
    let host_if = armed.lab.host_if.clone();
    let before = armed.dropped()?;
    let (cpu, wall) = armed
        .lab
        .host
        .run(move || -> io::Result<(Duration, Duration)> {
            pin_to_cpu(0)?;
            let c = std::ffi::CString::new(host_if).unwrap();
            // SAFETY: if_nametoindex reads the NUL-terminated name only.
            let ifindex = unsafe { libc::if_nametoindex(c.as_ptr()) };
            let (cpu0, wall0) = (thread_cpu_time(), Instant::now());
            live_frames(prog_fd, &frame, ifindex, repeat)?;
            Ok((thread_cpu_time() - cpu0, wall0.elapsed()))
        })
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("BPF_PROG_TEST_RUN (live frames, Linux 5.18+): {e}"))?;
    let dropped = armed.dropped()? - before;
    if dropped != u64::from(repeat) {
        return Err(format!(
            "{}: {dropped} of {repeat} injected frames were dropped",
            m.name()
        ));
    }
    eprintln!(
        "  {}: {:.0} frames/s of CPU time, {:.0} frames/s of wall time",
        m.name(),
        f64::from(repeat) / cpu.as_secs_f64(),
        f64::from(repeat) / wall.as_secs_f64()
    );
    Ok(f64::from(repeat) / cpu.as_secs_f64())
}
