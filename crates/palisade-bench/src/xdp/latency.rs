//! A legitimate client's requests while a listed source floods, on one shared core.
//!
//! The flood is injected on CPU 0 at a fixed rate, as a real flood arrives at the rate the
//! attacker sends whatever it costs the receiver, and by a real-time thread, as a NIC's
//! receive path runs in softirq context ahead of every task; the service and the client run
//! on CPU 0 too. What each dropped packet costs is CPU 0 time the service and the client do
//! not get: a cheap drop leaves most of the core, a drop that cannot keep up takes all of it
//! but what the kernel's real-time throttling keeps back (5% by default).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use palisade_lab::inject::{live_frames, pin_to_cpu, realtime};

use super::lab::{request, Lab, Mechanism, Setup};
use crate::blocking::client::percentile;
use crate::Palisade;

/// Frames per injection call: small enough to pace the flood finely.
const BATCH: u32 = 2_000;
/// A request not served within this counts as failed.
const GIVE_UP: Duration = Duration::from_secs(1);
/// The client's pace.
const INTERVAL: Duration = Duration::from_millis(20);

pub struct Latency {
    /// Flood frames per second injected: less than offered where the receiver could not keep
    /// up (the injecting thread then runs flat out).
    pub injected_pps: f64,
    pub sent: usize,
    /// Times of the served requests, ms, sorted.
    pub served_ms: Vec<f64>,
}

impl Latency {
    pub fn p(&self, q: f64) -> f64 {
        percentile(&self.served_ms, q)
    }

    pub fn failed(&self) -> usize {
        self.sent - self.served_ms.len()
    }
}

pub fn measure(
    pal: &Palisade,
    setup: Setup,
    m: Mechanism,
    offered_pps: f64,
    seconds: f64,
) -> Result<Latency, String> {
    let lab = Lab::with(pal, setup)?;
    lab.arm(m)?;
    lab.serve()?;
    // The client's first request also fills its neighbour cache.
    lab.client
        .run(|| request(GIVE_UP))
        .map_err(|e| e.to_string())?
        .ok_or("the legitimate client is not served even without a flood")?;
    let prog = lab.program()?;
    let fd = std::os::fd::AsRawFd::as_raw_fd(&prog);
    let (ifindex, frame) = (lab.ifindex()?, lab.frame());
    let stop = Arc::new(AtomicBool::new(false));
    let injected = Arc::new(AtomicU64::new(0));
    let flood = {
        let (stop, injected) = (stop.clone(), injected.clone());
        lab.server
            .spawn(move || -> std::io::Result<()> {
                pin_to_cpu(0)?;
                realtime()?;
                let start = Instant::now();
                let mut sent = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    if offered_pps <= 0.0 {
                        std::thread::sleep(Duration::from_millis(10));
                        continue;
                    }
                    live_frames(fd, &frame, ifindex, BATCH)?;
                    sent += u64::from(BATCH);
                    injected.store(sent, Ordering::Relaxed);
                    let due = start + Duration::from_secs_f64(sent as f64 / offered_pps);
                    std::thread::sleep(due.saturating_duration_since(Instant::now()));
                }
                Ok(())
            })
            .map_err(|e| e.to_string())?
    };
    let t0 = Instant::now();
    let (sent, mut served_ms) = lab
        .client
        .run(move || {
            let _ = pin_to_cpu(0);
            let mut times = Vec::new();
            let mut sent = 0;
            let start = Instant::now();
            while start.elapsed().as_secs_f64() < seconds {
                let next = start + INTERVAL * (sent as u32 + 1);
                sent += 1;
                if let Some(d) = request(GIVE_UP) {
                    times.push(d.as_secs_f64() * 1000.0);
                }
                std::thread::sleep(next.saturating_duration_since(Instant::now()));
            }
            (sent, times)
        })
        .map_err(|e| e.to_string())?;
    let elapsed = t0.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    flood
        .join()
        .map_err(|_| "the flood thread panicked".to_string())?
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("injecting the flood: {e}"))?;
    served_ms.sort_by(f64::total_cmp);
    Ok(Latency {
        injected_pps: injected.load(Ordering::Relaxed) as f64 / elapsed,
        sent,
        served_ms,
    })
}
