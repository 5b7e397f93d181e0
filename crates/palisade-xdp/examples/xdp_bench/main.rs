//! Benchmarks of the XDP early drop, in throw-away namespaces.
//!
//! ```text
//! cargo run --release -p palisade-xdp --example xdp_bench -- [--quick] [flood] [inject] [sync]
//! ```
//!
//! `flood`: packets per second dropped on one core under a flood from a listed source sent by
//! trafgen over veth, for palisade's XDP program (native and generic) against an nftables drop
//! at prerouting with raw priority and an nftables drop in the input chain. `inject`: the same
//! comparison with the frames injected by the kernel itself (`BPF_PROG_TEST_RUN` in live-frame
//! mode), which leaves out the sender's cost. `sync`: time and kernel memory to load a
//! million IPv4 addresses and a million random networks into the tries, and to resync.
//! `--quick` runs each measurement briefly (it checks that everything runs; its numbers are
//! rough). Both parts need root; `flood` needs `trafgen` (Debian's netsniff-ng).

mod arm;
mod flood;
mod inject;
#[path = "../../tests/lab/mod.rs"]
mod lab;
mod sync;

use arm::Mechanism;

fn main() {
    palisade_lab::remove_on_signals();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let parts: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| !a.starts_with("--"))
        .collect();
    for p in &parts {
        if !["flood", "inject", "sync"].contains(p) {
            eprintln!("unknown part `{p}`: expected `flood`, `inject` and/or `sync`");
            std::process::exit(2);
        }
    }
    let all = parts.is_empty();
    if !palisade_lab::available() {
        eprintln!("xdp_bench needs root and iproute2 (it builds network namespaces)");
        std::process::exit(1);
    }
    let mut ok = true;
    if all || parts.contains(&"flood") {
        ok &= report("flood", flood::run(quick));
    }
    if all || parts.contains(&"inject") {
        ok &= report("inject", inject::run(quick));
    }
    if all || parts.contains(&"sync") {
        ok &= report("sync", sync::run(quick));
    }
    std::process::exit(if ok { 0 } else { 1 });
}

fn report(part: &str, r: Result<(), String>) -> bool {
    match r {
        Ok(()) => true,
        Err(e) => {
            eprintln!("{part}: {e}");
            false
        }
    }
}

/// Measure every mechanism `rounds` times, print each median, and return the medians.
pub fn measure_all(
    mechanisms: &[Mechanism],
    rounds: usize,
    mut measure: impl FnMut(Mechanism) -> Result<f64, String>,
) -> Result<Vec<(Mechanism, f64)>, String> {
    println!("{:<36} {:>14}", "drop at", "packets/s");
    let mut out = Vec::new();
    for &m in mechanisms {
        let mut per_round = (0..rounds)
            .map(|_| measure(m))
            .collect::<Result<Vec<f64>, String>>()?;
        per_round.sort_by(f64::total_cmp);
        let median = per_round[per_round.len() / 2];
        println!("{:<36} {:>14.0}", m.name(), median);
        out.push((m, median));
    }
    Ok(out)
}

/// Each XDP rate against the best nftables rate.
pub fn print_ratios(rates: &[(Mechanism, f64)]) {
    let best_nft = rates
        .iter()
        .filter(|(m, _)| !matches!(m, Mechanism::Xdp(_)))
        .map(|&(_, r)| r)
        .fold(0.0, f64::max);
    for (m, r) in rates {
        if matches!(m, Mechanism::Xdp(_)) && best_nft > 0.0 {
            println!("{} / best nftables: {:.2}x", m.name(), r / best_nft);
        }
    }
}
