//! How busy the machine is apart from the benchmark, from `/proc/stat`.
//!
//! Why: the benchmark may share its machine with builds and tests (a compiler on one of two
//! cores doubles a kernel commit's time). It cannot stop them, but it can wait for a quiet
//! moment before each measurement and state, for each load, how much CPU something other than
//! the measured program used meanwhile, so a disturbed number is visible as such.

use std::time::{Duration, Instant};

/// Cumulative CPU time of all CPUs, in clock ticks.
#[derive(Clone, Copy, Debug)]
pub struct CpuStat {
    busy: u64,
    total: u64,
}

/// The aggregate `cpu` line of `/proc/stat`: busy = user + nice + system + irq + softirq + steal
/// (guest time is already inside user), total = busy + idle + iowait.
pub fn cpu_stat() -> Option<CpuStat> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    parse(stat.lines().find(|l| l.starts_with("cpu "))?)
}

fn parse(line: &str) -> Option<CpuStat> {
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    let at = |i: usize| v.get(i).copied().unwrap_or(0);
    let busy = at(0) + at(1) + at(2) + at(5) + at(6) + at(7);
    Some(CpuStat {
        busy,
        total: busy + at(3) + at(4),
    })
}

fn ticks_per_second() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if hz > 0 {
        hz as f64
    } else {
        100.0
    }
}

fn cpus() -> f64 {
    std::thread::available_parallelism().map_or(1, |n| n.get()) as f64
}

/// CPU seconds all CPUs spent busy between two samples.
pub fn busy_seconds(before: CpuStat, after: CpuStat) -> f64 {
    after.busy.saturating_sub(before.busy) as f64 / ticks_per_second()
}

/// Average number of busy cores between two samples.
pub fn busy_cores(before: CpuStat, after: CpuStat) -> f64 {
    let total = after.total.saturating_sub(before.total);
    if total == 0 {
        return 0.0;
    }
    after.busy.saturating_sub(before.busy) as f64 / total as f64 * cpus()
}

/// Below this many busy cores the machine counts as quiet.
const QUIET_CORES: f64 = 0.2;

/// Wait until the machine has been quiet for half a second, or `max` has passed. Returns how
/// long it waited and the busy cores of the last sample.
pub fn wait_for_quiet(max: Duration) -> (Duration, f64) {
    let start = Instant::now();
    loop {
        let Some(a) = cpu_stat() else {
            return (start.elapsed(), 0.0);
        };
        std::thread::sleep(Duration::from_millis(500));
        let Some(b) = cpu_stat() else {
            return (start.elapsed(), 0.0);
        };
        let busy = busy_cores(a, b);
        if busy < QUIET_CORES || start.elapsed() >= max {
            return (start.elapsed(), busy);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_cpu_line() {
        let s = parse("cpu  100 5 50 1000 10 1 2 3 0 0").unwrap();
        assert_eq!((s.busy, s.total), (161, 1171));
        assert!(parse("cpu  x").is_none());
    }

    #[test]
    fn samples_this_machine() {
        let a = cpu_stat().expect("/proc/stat");
        std::thread::sleep(Duration::from_millis(50));
        let b = cpu_stat().unwrap();
        let c = busy_cores(a, b);
        assert!((0.0..=cpus() + 0.01).contains(&c), "{c}");
        assert!(busy_seconds(a, b) >= 0.0);
    }
}
