//! Drops per CPU second, with the frames injected by the kernel (see `palisade_lab::inject`):
//! the receive path alone, without a sender sharing the core. Each mechanism in a fresh lab,
//! one thread on CPU 0; the rate is frames per second of that thread's CPU time, which other
//! work on a shared machine does not inflate.

use std::time::Instant;

use palisade_lab::inject::{live_frames, pin_to_cpu, thread_cpu_time};

use super::lab::{Lab, Mechanism, Setup};
use crate::Palisade;

/// One mechanism's drop rate: frames per CPU second (median of rounds), and per wall second.
pub struct Rate {
    pub mechanism: Mechanism,
    pub per_cpu_second: f64,
    pub per_wall_second: f64,
}

pub fn measure(
    pal: &Palisade,
    setup: Setup,
    m: Mechanism,
    repeat: u32,
    rounds: usize,
) -> Result<Rate, String> {
    let lab = Lab::with(pal, setup)?;
    lab.arm(m)?;
    let prog = lab.program()?;
    let fd = std::os::fd::AsRawFd::as_raw_fd(&prog);
    let ifindex = lab.ifindex()?;
    let frame = lab.frame();
    let mut cpu_rates = Vec::new();
    let mut wall_rates = Vec::new();
    for _ in 0..rounds {
        let before = lab.dropped(m)?;
        let frame = frame.clone();
        let (cpu, wall) = lab
            .server
            .run(move || -> std::io::Result<(f64, f64)> {
                pin_to_cpu(0)?;
                let (c, w) = (thread_cpu_time(), Instant::now());
                live_frames(fd, &frame, ifindex, repeat)?;
                Ok((
                    (thread_cpu_time() - c).as_secs_f64(),
                    w.elapsed().as_secs_f64(),
                ))
            })
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("BPF_PROG_TEST_RUN (live frames, Linux 5.18+): {e}"))?;
        let dropped = lab.dropped(m)? - before;
        if dropped != u64::from(repeat) {
            return Err(format!(
                "{}: {dropped} of {repeat} injected frames were dropped",
                m.name()
            ));
        }
        cpu_rates.push(f64::from(repeat) / cpu);
        wall_rates.push(f64::from(repeat) / wall);
    }
    Ok(Rate {
        mechanism: m,
        per_cpu_second: crate::measure::median(&cpu_rates),
        per_wall_second: crate::measure::median(&wall_rates),
    })
}
