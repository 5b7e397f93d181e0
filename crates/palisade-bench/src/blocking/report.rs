//! The experiment's outputs: a CSV line for every request and every wrk run (for tools), and a
//! Markdown summary with the ratios the targets are stated in (for people).

use std::fmt::Write as _;

use super::client::{percentile, Sample, PHASES};
use super::lab::{CLIENT, FILE_SIZE, SERVER};
use super::methods::Method;
use super::wrk::WrkResult;
use super::{Point, Results};
use crate::machine::{first_line_of, Environment};
use crate::measure::median;

/// A phase's values in µs, sorted.
fn sorted_us(samples: &[Sample], phase: usize) -> Vec<f64> {
    let mut v: Vec<f64> = samples
        .iter()
        .map(|s| s.phase(phase).as_secs_f64() * 1e6)
        .collect();
    v.sort_by(f64::total_cmp);
    v
}

/// The median of a phase (index into [`PHASES`]) in µs.
pub fn median_us(samples: &[Sample], phase: usize) -> f64 {
    percentile(&sorted_us(samples, phase), 50.0)
}

/// Median, 90th and 99th percentile of a phase in µs.
pub fn quantiles_us(samples: &[Sample], phase: usize) -> [f64; 3] {
    let v = sorted_us(samples, phase);
    [50.0, 90.0, 99.0].map(|p| percentile(&v, p))
}

/// `method,n,request,connect_us,send_us,first_byte_us,complete_us`: every request, in the order
/// made within its method and N.
pub fn requests_csv(r: &Results) -> String {
    let mut s = String::from("method,n,request,connect_us,send_us,first_byte_us,complete_us\n");
    for p in &r.points {
        for (i, x) in p.samples.iter().enumerate() {
            let us = |d: std::time::Duration| d.as_secs_f64() * 1e6;
            let _ = writeln!(
                s,
                "{},{},{i},{:.1},{:.1},{:.1},{:.1}",
                p.method.name(),
                p.n,
                us(x.connect),
                us(x.send),
                us(x.first_byte),
                us(x.complete)
            );
        }
    }
    s
}

/// `method,n,keep_alive,round,requests,requests_per_s,p50_us,p90_us,p99_us,errors,busy_before`:
/// every wrk run, with the machine's busy cores just before it.
pub fn wrk_csv(r: &Results) -> String {
    let mut s = String::from(
        "method,n,keep_alive,round,requests,requests_per_s,p50_us,p90_us,p99_us,errors,busy_before\n",
    );
    for w in &r.wrk {
        let x = &w.result;
        let _ = writeln!(
            s,
            "{},{},{},{},{},{:.1},{:.1},{:.1},{:.1},{},{:.2}",
            w.method.name(),
            w.n,
            w.keep_alive,
            w.round,
            x.requests,
            x.requests_per_s,
            x.p50_us,
            x.p90_us,
            x.p99_us,
            x.errors,
            w.busy_before
        );
    }
    s
}

fn point(r: &Results, m: Method, n: usize) -> Option<&Point> {
    r.points.iter().find(|p| p.method == m && p.n == n)
}

/// `method`'s median complete time at N over the baseline's at the same N (measured in the
/// same rounds).
fn vs_none(r: &Results, m: Method, n: usize) -> Option<f64> {
    let a = median_us(&point(r, m, n)?.samples, 3);
    let b = median_us(&point(r, Method::None, n)?.samples, 3);
    Some(a / b)
}

/// The wrk runs of one method at one N: medians over the rounds of requests/s, p50 and p99
/// latency, and the sum of errors.
struct WrkSummary {
    rate: f64,
    p50_us: f64,
    p99_us: f64,
    errors: u64,
}

fn wrk_summary(r: &Results, m: Method, n: usize, keep_alive: bool) -> Option<WrkSummary> {
    let runs: Vec<&WrkResult> = r
        .wrk
        .iter()
        .filter(|w| w.method == m && w.n == n && w.keep_alive == keep_alive)
        .map(|w| &w.result)
        .collect();
    if runs.is_empty() {
        return None;
    }
    let med =
        |f: &dyn Fn(&WrkResult) -> f64| median(&runs.iter().map(|x| f(x)).collect::<Vec<_>>());
    Some(WrkSummary {
        rate: med(&|x| x.requests_per_s),
        p50_us: med(&|x| x.p50_us),
        p99_us: med(&|x| x.p99_us),
        errors: runs.iter().map(|x| x.errors).sum(),
    })
}

fn wrk_rate(r: &Results, m: Method, n: usize, keep_alive: bool) -> Option<f64> {
    wrk_summary(r, m, n, keep_alive).map(|w| w.rate)
}

fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The Markdown summary.
pub fn markdown(r: &Results, env: &Environment) -> String {
    let mut s = String::new();
    let p = &r.plan;
    let _ = writeln!(
        s,
        "# palisade-bench blocking{}\n",
        if p.quick { " (quick smoke run)" } else { "" }
    );
    let _ = writeln!(
        s,
        "Machine: {} CPU(s), {}, {} RAM, Linux {}. Tools: {}; {}; {}; {}; {} (binary built {}, \
         work tree at {}).\n",
        env.nproc,
        env.cpu,
        env.ram,
        env.kernel,
        first_line_of("iptables-nft", &["--version"]),
        env.ipset,
        first_line_of("nginx", &["-v"]),
        // wrk has no --version; its usage text starts with the version.
        first_line_of("wrk", &["--version"]),
        env.palisade,
        env.palisade_built,
        env.revision
    );
    let waited: f64 = r.steps.iter().map(|x| x.waited_s).sum::<f64>() + r.wrk_waited_s;
    let (busiest_step, busiest_n) = r
        .steps
        .iter()
        .map(|x| (x.busy_cores, x.n))
        .fold((0.0, 0), |a, b| if b.0 > a.0 { b } else { a });
    let busiest_wrk = r.wrk.iter().map(|w| w.busy_before).fold(0.0, f64::max);
    let _ = writeln!(
        s,
        "Load average (1 min): {} at the start, {} at the end (the benchmark's own client and \
         nginx count in it). Before each N's requests and before each wrk run the benchmark \
         waited until other work used less than 0.2 cores (at most {:.0} s each; {waited:.0} s \
         of waiting in all); the busiest machine it then measured on had {busiest_step:.2} \
         busy cores before requests (at N = {}), {busiest_wrk:.2} before a wrk run.\n",
        r.loadavg.0,
        r.loadavg.1,
        p.quiet_max_wait.as_secs(),
        thousands(busiest_n)
    );
    let _ = writeln!(
        s,
        "Each method has its own lab: nginx (one process) on {SERVER} in a server namespace, \
         the client on {CLIENT} in a client namespace, a veth pair between them. The N blocked \
         addresses are the first N of a fixed pseudo-random list (splitmix64, seed `{:#x}`): \
         distinct even addresses, so never the client's. Rules sit in the server namespace on \
         INPUT, the path of every request packet:\n",
        crate::data::SEED
    );
    for m in Method::ALL {
        let _ = writeln!(s, "- **{}**: {}", m.name(), m.describe());
    }
    let _ = writeln!(
        s,
        "\nSequential requests: {} per method and N, made in {} rounds that rotate through the \
         methods. Each is a fresh TCP connection, `GET` of a {} KiB file with `Connection: \
         close`. Phases are counted from the start of the request (like curl's `-w` times): \
         **connect** = handshake done, **send** = request acknowledged (`SIOCOUTQ` reaches 0), \
         **first byte** = first byte of the response read, **complete** = whole response read. \
         One-rule-per-address methods are measured up to N = {}.\n",
        p.requests,
        p.rounds,
        FILE_SIZE / 1024,
        thousands(p.linear_max)
    );

    s.push_str(
        "## Response time, µs (median / p90 / p99)\n\n| N | method | connect | send | first byte | complete | complete median vs none |\n|---:|---|---:|---:|---:|---:|---:|\n",
    );
    for &n in &p.ns {
        for m in Method::ALL {
            let Some(pt) = point(r, m, n) else { continue };
            let cells: Vec<String> = (0..PHASES.len())
                .map(|ph| {
                    let [a, b, c] = quantiles_us(&pt.samples, ph);
                    format!("{a:.0} / {b:.0} / {c:.0}")
                })
                .collect();
            let ratio = vs_none(r, m, n)
                .map(|x| format!("{x:.3}"))
                .unwrap_or_default();
            let _ = writeln!(
                s,
                "| {} | {} | {} | {ratio} |",
                thousands(n),
                m.name(),
                cells.join(" | ")
            );
        }
    }

    if !r.wrk.is_empty() {
        let _ = writeln!(
            s,
            "\n## Throughput under concurrency\n\n`wrk -t1 -c{} -d{}s --latency` from the client \
             namespace, {} run(s) per method and N, interleaved like the requests; medians over \
             the runs (keep-alive off: `-H \"Connection: close\"`, a new connection per \
             request).\n\n\
             | N | method | keep-alive | requests/s | vs none | latency p50 µs | p99 µs | errors |\n|---:|---|---|---:|---:|---:|---:|---:|",
            p.wrk.connections,
            p.wrk.duration.as_secs(),
            p.wrk_rounds
        );
        for keep_alive in [false, true] {
            for &n in &p.wrk_ns {
                let base = wrk_rate(r, Method::None, n, keep_alive);
                for m in Method::ALL {
                    let Some(w) = wrk_summary(r, m, n, keep_alive) else {
                        continue;
                    };
                    let _ = writeln!(
                        s,
                        "| {} | {} | {} | {:.0} | {} | {:.0} | {:.0} | {} |",
                        thousands(n),
                        m.name(),
                        if keep_alive { "on" } else { "off" },
                        w.rate,
                        base.map(|b| format!("{:.3}", w.rate / b))
                            .unwrap_or_default(),
                        w.p50_us,
                        w.p99_us,
                        w.errors
                    );
                }
            }
        }
    }

    s.push_str("\n## Loading each N (wall time of the loading command, ms; not timed for speed)\n\n| method |");
    for &n in &p.ns {
        let _ = write!(s, " {} |", thousands(n));
    }
    s.push_str("\n|---|");
    s.push_str(&"---:|".repeat(p.ns.len()));
    s.push('\n');
    for m in Method::ALL.into_iter().filter(|&m| m != Method::None) {
        let _ = write!(s, "| {} |", m.name());
        for &n in &p.ns {
            match point(r, m, n) {
                Some(pt) => {
                    let _ = write!(s, " {:.0} |", pt.load_ms);
                }
                None => s.push_str(" |"),
            }
        }
        s.push('\n');
    }

    s.push_str("\n## Targets\n\n");
    if p.quick {
        s.push_str("(Quick run: too few addresses and requests for the targets to mean anything; shown only to exercise the report.)\n\n");
    }
    s.push_str("| target | measured | met |\n|---|---|---|\n");
    for (target, measured, met) in targets(r) {
        let verdict = match met {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "not measured",
        };
        let _ = writeln!(s, "| {target} | {measured} | {verdict} |");
    }

    if !r.failures.is_empty() {
        s.push_str("\n## Failures\n\n");
        for (m, n, e) in &r.failures {
            let at = n.map(|n| format!(" at N = {}", thousands(n)));
            let _ = writeln!(s, "- {}{}: {e}", m.name(), at.unwrap_or_default());
        }
    }
    s
}

/// (target, what was measured, met?) — `None` when a needed measurement is missing.
fn targets(r: &Results) -> Vec<(String, String, Option<bool>)> {
    let p = &r.plan;
    let mut out = Vec::new();
    let max_n = p.ns.iter().copied().max().unwrap_or(0);
    let ratios: Vec<(usize, Option<f64>)> =
        p.ns.iter()
            .map(|&n| (n, vs_none(r, Method::Palisade, n)))
            .collect();
    let worst = ratios
        .iter()
        .filter_map(|(n, x)| x.map(|x| (*n, x)))
        .max_by(|a, b| a.1.total_cmp(&b.1));
    let all_there = ratios.iter().all(|(_, x)| x.is_some());
    out.push((
        format!(
            "palisade within 5% of no firewall (median complete time) at every N up to {}",
            thousands(max_n)
        ),
        match (worst, vs_none(r, Method::Palisade, max_n)) {
            (Some((wn, w)), Some(top)) => format!(
                "at N = {}: {top:.3}x; worst over all N: {w:.3}x at N = {}",
                thousands(max_n),
                thousands(wn)
            ),
            _ => "n/a".into(),
        },
        all_there.then(|| worst.is_some_and(|(_, w)| w <= 1.05)),
    ));
    for m in [Method::IptablesNft, Method::IptablesLegacy] {
        let lo = vs_none(r, m, 0);
        let hi = vs_none(r, m, p.linear_max);
        out.push((
            format!("{}: one rule per address degrades as N grows", m.name()),
            match (lo, hi) {
                (Some(lo), Some(hi)) => format!(
                    "median complete vs none: {lo:.2}x at N = 0, {hi:.2}x at N = {}",
                    thousands(p.linear_max)
                ),
                _ => "n/a".into(),
            },
            lo.zip(hi).map(|(lo, hi)| hi > lo * 1.10),
        ));
    }
    let n10k = 10_000;
    if p.wrk_ns.contains(&n10k) {
        let ratio = wrk_rate(r, Method::IptablesNft, n10k, false)
            .zip(wrk_rate(r, Method::None, n10k, false))
            .map(|(a, b)| a / b);
        out.push((
            "(for comparison) 10,000 linear rules cut throughput to about a fifth".into(),
            ratio
                .map(|x| format!("iptables-nft / none, keep-alive off: {x:.2}x"))
                .unwrap_or_else(|| "n/a".into()),
            ratio.map(|x| x <= 0.3),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(1_000_000), "1,000,000");
    }
}
