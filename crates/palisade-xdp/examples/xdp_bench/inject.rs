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

use palisade_xdp::Mode;

use crate::arm::{arm, Mechanism};

const BPF_PROG_TEST_RUN: libc::c_long = 10;
const BPF_F_TEST_XDP_LIVE_FRAMES: u32 = 1 << 1;

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

/// CPU time this thread has used, system calls included.
pub fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into a live local.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn pin_to_cpu0() -> io::Result<()> {
    // SAFETY: a zeroed cpu_set_t is empty; CPU_SET and sched_setaffinity act on this thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(0, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Run the program `repeat` times on `frame` as received on `ifindex`; returns (CPU, wall).
fn live_frames(
    prog_fd: i32,
    frame: &[u8],
    ifindex: u32,
    repeat: u32,
) -> io::Result<(Duration, Duration)> {
    // struct xdp_md: data, data_end, data_meta, ingress_ifindex, rx_queue_index, egress_ifindex
    let ctx: [u32; 6] = [0, frame.len() as u32, 0, ifindex, 0, 0];
    // union bpf_attr, the `test` member: prog_fd, retval, data_size_in, data_size_out,
    // data_in, data_out, repeat, duration, ctx_size_in, ctx_size_out, ctx_in, ctx_out, flags,
    // cpu, batch_size (offsets 0..76).
    let mut attr = [0u8; 128];
    let put32 =
        |a: &mut [u8; 128], at: usize, v: u32| a[at..at + 4].copy_from_slice(&v.to_ne_bytes());
    let put64 =
        |a: &mut [u8; 128], at: usize, v: u64| a[at..at + 8].copy_from_slice(&v.to_ne_bytes());
    put32(&mut attr, 0, prog_fd as u32);
    put32(&mut attr, 8, frame.len() as u32);
    put64(&mut attr, 16, frame.as_ptr() as u64);
    put32(&mut attr, 32, repeat);
    put32(&mut attr, 40, std::mem::size_of_val(&ctx) as u32);
    put64(&mut attr, 48, ctx.as_ptr() as u64);
    put32(&mut attr, 64, BPF_F_TEST_XDP_LIVE_FRAMES);
    let (cpu0, wall0) = (thread_cpu_time(), Instant::now());
    // SAFETY: bpf(2) reads the 128-byte attr; the frame and ctx pointers in it point to live
    // buffers of the sizes given, which the kernel only reads in live-frame mode.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_TEST_RUN,
            attr.as_mut_ptr(),
            attr.len(),
        )
    };
    let (cpu, wall) = (thread_cpu_time() - cpu0, wall0.elapsed());
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((cpu, wall))
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
            pin_to_cpu0()?;
            let c = std::ffi::CString::new(host_if).unwrap();
            // SAFETY: if_nametoindex reads the NUL-terminated name only.
            let ifindex = unsafe { libc::if_nametoindex(c.as_ptr()) };
            live_frames(prog_fd, &frame, ifindex, repeat)
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
