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

use lab::{Mechanism, Setup};

use crate::{elapsed, Args, Palisade, TempDir};

/// Sizes of one run: frames per round, rounds, seconds of client requests.
struct Sizes {
    repeat: u32,
    rounds: usize,
    seconds: f64,
}

impl Sizes {
    fn of(args: &Args) -> Sizes {
        if args.quick {
            Sizes {
                repeat: 200_000,
                rounds: 1,
                seconds: 2.0,
            }
        } else {
            Sizes {
                repeat: 5_000_000,
                rounds: 3,
                seconds: 10.0,
            }
        }
    }
}

/// Waits for the machine to go quiet before a measurement (a minute at most; 3 s when quick).
fn quiet(args: &Args) {
    let most = std::time::Duration::from_secs(if args.quick { 3 } else { 60 });
    crate::settle(std::time::Duration::from_millis(300), most);
}

fn header(args: &Args, tmp: &TempDir) -> (Palisade, String) {
    let (pal, shown) = Palisade::snapshot(args, &tmp.0);
    let env = crate::machine::Environment::collect(&shown);
    let md = format!(
        "Machine: {} ({} CPUs), Linux {}, {}; palisade {} built {} ({})\n\n",
        env.cpu, env.nproc, env.kernel, env.ram, env.palisade, env.palisade_built, env.revision
    );
    (pal, md)
}

/// Drops per CPU second of each mechanism, then a legitimate client while the flood is
/// offered at 80% of the best rate among `reference` mechanisms; both tables into `md`.
/// Returns the rates, in the order of `mechanisms`.
fn compare(
    args: &Args,
    pal: &Palisade,
    setup: Setup,
    (mechanisms, reference): (&[Mechanism], fn(Mechanism) -> bool),
    flood: &str,
    md: &mut String,
) -> Result<Vec<rates::Rate>, String> {
    let Sizes {
        repeat,
        rounds,
        seconds,
    } = Sizes::of(args);
    eprintln!(
        "{} drop rates ({repeat} injected frames per round)",
        elapsed()
    );
    let mut rates = Vec::new();
    for &m in mechanisms {
        quiet(args);
        let r = rates::measure(pal, setup, m, repeat, rounds)?;
        eprintln!("  {}: {:.0} frames/CPU s", m.name(), r.per_cpu_second);
        rates.push(r);
    }
    let best = rates
        .iter()
        .filter(|r| reference(r.mechanism))
        .map(|r| r.per_cpu_second)
        .fold(0.0, f64::max);
    md.push_str(&format!(
        "### Drops per CPU second\n\n{repeat} {flood} per round, injected on CPU 0 \
         (`BPF_PROG_TEST_RUN`, live frames); median of {rounds}.\n\n\
         | dropped by | frames per CPU second | frames per wall second | against the reference |\n\
         |---|---:|---:|---:|\n"
    ));
    for r in &rates {
        md.push_str(&format!(
            "| {} | {:.0} | {:.0} | {:.2}x |\n",
            r.mechanism.name(),
            r.per_cpu_second,
            r.per_wall_second,
            r.per_cpu_second / best
        ));
    }

    let offered = (best * 0.8).round();
    eprintln!(
        "{} a legitimate client under a flood of {offered:.0} frames/s",
        elapsed()
    );
    md.push_str(&format!(
        "\n### A legitimate client during the flood\n\nThe flood offered at {offered:.0} frames/s \
         (80% of the reference's drop rate) on CPU 0, where the service and the client run too; \
         one request (connect, send, reply) every 20 ms for {seconds:.0} s.\n\n\
         | drop by | flood injected, frames/s | requests | failed | median ms | p99 ms | max ms |\n\
         |---|---:|---:|---:|---:|---:|---:|\n"
    ));
    let cases =
        std::iter::once((Mechanism::None, 0.0)).chain(mechanisms.iter().map(|&m| (m, offered)));
    for (m, pps) in cases {
        quiet(args);
        let l = latency::measure(pal, setup, m, pps, seconds)?;
        let name = if pps == 0.0 { "no flood" } else { m.name() };
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
    Ok(rates)
}

fn write(args: &Args, file: &str, md: &str) -> Result<(), String> {
    std::fs::create_dir_all(&args.out).map_err(|e| e.to_string())?;
    std::fs::write(args.out.join(file), md).map_err(|e| e.to_string())?;
    println!("{md}");
    Ok(())
}

/// `palisade-bench raw`: where a block set drops a SYN flood on a stateful server: palisade's
/// prerouting chain at raw priority (before conntrack), the input chain palisade used before
/// (after conntrack made an entry for every packet), and an ipset rule in iptables' raw table.
/// Writes raw.md.
pub fn bench_raw(args: &Args) -> Result<bool, String> {
    let tmp = TempDir::new().map_err(|e| format!("temp dir: {e}"))?;
    let (pal, mut md) = header(args, &tmp);
    let setup = Setup {
        syn: true,
        stateful: true,
    };
    let mechanisms = [
        Mechanism::NftPrerouting,
        Mechanism::NftInput,
        Mechanism::IpsetRaw,
    ];
    let rates = compare(
        args,
        &pal,
        setup,
        (&mechanisms, |m| m == Mechanism::NftInput),
        "TCP SYNs from one listed IPv4 source to the service's port, conntrack in use",
        &mut md,
    )?;
    let ratio = rates[0].per_cpu_second / rates[1].per_cpu_second;
    md.push_str(&format!(
        "\nprerouting (raw) / input: **{ratio:.2}x** the drops per CPU second\n"
    ));
    write(args, "raw.md", &md)?;
    Ok(true)
}

pub fn bench(args: &Args) -> Result<bool, String> {
    let entries = if args.quick { 50_000 } else { 1_000_000 };
    let tmp = TempDir::new().map_err(|e| format!("temp dir: {e}"))?;
    let (pal, mut md) = header(args, &tmp);
    let mechanisms = [
        Mechanism::Xdp,
        Mechanism::NftPrerouting,
        Mechanism::NftInput,
    ];
    let rates = compare(
        args,
        &pal,
        Setup::default(),
        (&mechanisms, |m| m != Mechanism::Xdp),
        "60-byte UDP frames from one listed IPv4 source",
        &mut md,
    )?;
    let best_nft = rates[1..]
        .iter()
        .map(|r| r.per_cpu_second)
        .fold(0.0, f64::max);
    let ratio = rates[0].per_cpu_second / best_nft;
    md.push_str(&format!(
        "\nXDP / best nftables drops per CPU second: **{ratio:.2}x** (target: at least 3x)\n\n"
    ));

    eprintln!("{} {entries} entries through the set commands", elapsed());
    md.push_str(&format!(
        "\n### {entries} entries\n\nWall time of each palisade command, one after the other.\n\n\
         | step | wall time |\n|---|---:|\n"
    ));
    for s in sync::measure(&pal, &tmp.0, entries, args.quick)? {
        md.push_str(&format!("| {} | {:.2} s |\n", s.what, s.took.as_secs_f64()));
    }
    write(args, "xdp.md", &md)?;
    Ok(true)
}
