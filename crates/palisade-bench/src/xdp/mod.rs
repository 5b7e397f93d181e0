//! `palisade-bench xdp`: the XDP early drop against nftables, in one run.
//!
//! - **Drop rate per CPU**: frames from a listed source injected by the kernel on one core
//!   ([`rates`]), dropped by palisade's XDP program, by palisade's block chain (prerouting, raw
//!   priority, before conntrack), and by an `nft` rule on input; drops per CPU second.
//! - **A legitimate client under the flood** ([`latency`]): the flood offered at 80% of what
//!   the best nftables mechanism drops per CPU second, on the core the service and client use.
//! - **A million entries** ([`sync`]): what XDP adds to palisade's set commands.
//!
//! Everything runs in namespaces and on a bpffs of the benchmark's own, through the palisade
//! binary. Writes `xdp.md`.

mod lab;
mod latency;
mod rates;
mod sync;

use lab::Mechanism;

use crate::{elapsed, Args, Palisade, TempDir};

pub fn bench(args: &Args) -> Result<bool, String> {
    let (repeat, rounds, seconds, entries) = if args.quick {
        (200_000, 1, 2.0, 50_000)
    } else {
        (5_000_000, 3, 10.0, 1_000_000)
    };
    let quiet = || {
        let most = std::time::Duration::from_secs(if args.quick { 3 } else { 60 });
        crate::settle(std::time::Duration::from_millis(300), most)
    };
    let tmp = TempDir::new().map_err(|e| format!("temp dir: {e}"))?;
    let (pal, shown) = Palisade::snapshot(args, &tmp.0);
    let env = crate::machine::Environment::collect(&shown);
    let mut md = format!(
        "Machine: {} ({} CPUs), Linux {}, {}; palisade {} built {} ({})\n\n",
        env.cpu, env.nproc, env.kernel, env.ram, env.palisade, env.palisade_built, env.revision
    );

    eprintln!(
        "{} drop rates ({repeat} injected frames per round)",
        elapsed()
    );
    let mut rates = Vec::new();
    for m in [
        Mechanism::Xdp,
        Mechanism::NftPrerouting,
        Mechanism::NftInput,
    ] {
        quiet();
        let r = rates::measure(&pal, m, repeat, rounds)?;
        eprintln!("  {}: {:.0} frames/CPU s", m.name(), r.per_cpu_second);
        rates.push(r);
    }
    let best_nft = rates
        .iter()
        .filter(|r| r.mechanism != Mechanism::Xdp)
        .map(|r| r.per_cpu_second)
        .fold(0.0, f64::max);
    let xdp = rates[0].per_cpu_second;
    md.push_str(&format!(
        "### Drops per CPU second\n\n{repeat} 60-byte UDP frames from one listed IPv4 source per \
         round, injected on CPU 0 (`BPF_PROG_TEST_RUN`, live frames); median of {rounds}.\n\n\
         | dropped by | frames per CPU second | frames per wall second | against the best nftables |\n\
         |---|---:|---:|---:|\n"
    ));
    for r in &rates {
        md.push_str(&format!(
            "| {} | {:.0} | {:.0} | {:.2}x |\n",
            r.mechanism.name(),
            r.per_cpu_second,
            r.per_wall_second,
            r.per_cpu_second / best_nft
        ));
    }
    let ratio = xdp / best_nft;
    md.push_str(&format!(
        "\nXDP / best nftables: **{ratio:.2}x** (target: at least 3x)\n\n"
    ));

    let offered = (best_nft * 0.8).round();
    eprintln!(
        "{} a legitimate client under a flood of {offered:.0} frames/s",
        elapsed()
    );
    md.push_str(&format!(
        "### A legitimate client during the flood\n\nThe flood offered at {offered:.0} frames/s \
         (80% of the best nftables drop rate) on CPU 0, where the service and the client run too; \
         one request (connect, send, reply) every 20 ms for {seconds:.0} s.\n\n\
         | drop by | flood injected, frames/s | requests | failed | median ms | p99 ms | max ms |\n\
         |---|---:|---:|---:|---:|---:|---:|\n"
    ));
    let cases = [
        (Mechanism::None, 0.0),
        (Mechanism::Xdp, offered),
        (Mechanism::NftPrerouting, offered),
        (Mechanism::NftInput, offered),
    ];
    for (m, pps) in cases {
        quiet();
        let l = latency::measure(&pal, m, pps, seconds)?;
        let name = if pps == 0.0 {
            "no flood".to_string()
        } else {
            m.name().to_string()
        };
        md.push_str(&format!(
            "| {name} | {:.0} | {} | {} | {:.3} | {:.3} | {:.3} |\n",
            l.injected_pps,
            l.sent,
            l.failed(),
            l.p(50.0),
            l.p(99.0),
            l.served_ms.last().copied().unwrap_or(f64::NAN)
        ));
    }

    eprintln!("{} {entries} entries through the set commands", elapsed());
    md.push_str(&format!(
        "\n### {entries} entries\n\nWall time of each palisade command, one after the other.\n\n\
         | step | wall time |\n|---|---:|\n"
    ));
    for s in sync::measure(&pal, &tmp.0, entries, args.quick)? {
        md.push_str(&format!("| {} | {:.2} s |\n", s.what, s.took.as_secs_f64()));
    }
    std::fs::create_dir_all(&args.out).map_err(|e| e.to_string())?;
    std::fs::write(args.out.join("xdp.md"), &md).map_err(|e| e.to_string())?;
    println!("{md}");
    Ok(true)
}
