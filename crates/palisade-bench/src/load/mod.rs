//! `palisade-bench load`: how fast, and in how much memory, palisade loads big sets compared with
//! the standard tools (`nft -f`, `ipset restore`), and how close it gets to the kernel's own
//! commit time.
//!
//! Every measurement that touches netfilter runs in a fresh network namespace made by
//! `palisade-lab` and removed afterwards (also on panic and on SIGINT/SIGTERM), so the host's own
//! firewall is never touched and one tool's leftovers never slow down the next.

mod report;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::data::{self, Kind, SplitMix64};
use crate::measure::{self, median, run, setup};
use crate::{elapsed, quiet, Args, Palisade, TempDir};
use palisade_lab::Netns;
use report::{Measured, Row};

/// A generous ceiling per command: a million-element `nft -f` takes a while, but a hung tool
/// must not hang the benchmark (or CI) forever.
const LOAD_TIMEOUT: Duration = Duration::from_secs(20 * 60);
const OP_TIMEOUT: Duration = Duration::from_secs(60);

/// Sizes of one run.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    pub quick: bool,
    pub a: usize,
    pub b: usize,
    pub c: usize,
    /// Size of the set the single add/remove goes into (a prefix of data set C).
    pub single_set: usize,
    pub reps: usize,
    /// Pause after each namespace is removed: the kernel frees a big set asynchronously, and
    /// that work must not be billed to the next measurement.
    pub settle: Duration,
    /// How long to wait for other work on the machine to stop before measuring anyway (short
    /// in a smoke run, which only checks that everything runs).
    pub quiet_max_wait: Duration,
}

impl Plan {
    pub fn new(quick: bool) -> Self {
        if quick {
            Plan {
                quick,
                a: 10_000,
                b: 20_000,
                c: 20_000,
                single_set: 20_000,
                reps: 3,
                settle: Duration::from_millis(200),
                quiet_max_wait: Duration::from_secs(5),
            }
        } else {
            Plan {
                quick,
                a: 100_000,
                b: 1_000_000,
                c: 1_000_000,
                single_set: 100_000,
                reps: 10,
                settle: Duration::from_secs(2),
                quiet_max_wait: Duration::from_secs(120),
            }
        }
    }
}

/// One data set as the tools see it.
struct Dataset {
    id: &'static str,
    kind: Kind,
    entries: usize,
    files: data::Files,
}

/// The whole run; `Ok(false)` when the report was written but some measurement failed.
pub fn bench(args: &Args) -> Result<bool, String> {
    if !palisade_lab::available() {
        return Err("needs root and iproute2 to create network namespaces".into());
    }
    let plan = Plan::new(args.quick);
    let tmp = TempDir::new().map_err(|e| format!("temp dir: {e}"))?;
    let (pal, shown) = Palisade::snapshot(args, &tmp.0);
    let env = crate::machine::Environment::collect(&shown);
    eprintln!("{} generating data in {} ...", elapsed(), tmp.0.display());
    let datasets = generate(&tmp.0, &plan).map_err(|e| format!("writing data: {e}"))?;
    let single = &datasets[3];
    let mut rows = Vec::new();

    let mut waited = settle(&plan);
    let baseline = baseline(&plan);
    match &baseline {
        Ok(m) => eprintln!(
            "baseline `ip netns exec NS true`: {:.1} ms, {} KiB",
            m.wall_ms, m.peak_rss_kib
        ),
        Err(e) => eprintln!("baseline failed: {e}"),
    }

    for ds in &datasets[..3] {
        for tool in ["palisade", "nft", "nft-hash", "ipset"] {
            let result = match tool {
                "nft-hash" if ds.files.nft_hash.is_none() => continue,
                _ => {
                    waited += settle(&plan);
                    match tool {
                        "palisade" => palisade_load(&pal, ds),
                        "nft" => nft_load(&ds.files.nft, ds.entries),
                        "nft-hash" => nft_load(ds.files.nft_hash.as_ref().unwrap(), ds.entries),
                        _ => ipset_load(ds),
                    }
                }
            };
            log(ds.id, tool, &result);
            rows.push(Row {
                dataset: ds.id.to_string(),
                tool: tool.to_string(),
                entries: ds.entries,
                result,
            });
        }
    }

    let (single_rows, single_waited) = single_ops(&pal, single, &plan);
    rows.extend(single_rows);
    waited += single_waited;

    let out = report::Report {
        plan,
        env,
        baseline,
        waited_for_quiet_s: waited,
        rows,
        kinds: datasets
            .iter()
            .map(|d| (d.id.to_string(), d.kind, d.entries))
            .collect(),
    };
    let md = out.markdown();
    std::fs::create_dir_all(&args.out).map_err(|e| format!("{}: {e}", args.out.display()))?;
    let csv_path = args.out.join("load.csv");
    let md_path = args.out.join("load.md");
    std::fs::write(&csv_path, out.csv()).map_err(|e| format!("{}: {e}", csv_path.display()))?;
    std::fs::write(&md_path, &md).map_err(|e| format!("{}: {e}", md_path.display()))?;
    println!("{md}");
    eprintln!("wrote {} and {}", csv_path.display(), md_path.display());
    Ok(out.rows.iter().all(|r| r.result.is_ok()) && out.baseline.is_ok())
}

/// Progress on stderr with the time since start, so a slow step is visible while it runs.
fn log(ds: &str, tool: &str, r: &Result<Measured, String>) {
    let t = elapsed();
    match r {
        Ok(m) => eprintln!(
            "{t} [{ds}] {tool}: {:.1} ms, {:.1} MiB{}",
            m.wall_ms,
            m.peak_rss_kib as f64 / 1024.0,
            m.commit_ms
                .map(|c| format!(", kernel commit {c:.1} ms"))
                .unwrap_or_default()
        ),
        Err(e) => eprintln!("{t} [{ds}] {tool}: FAILED: {e}"),
    }
}

/// Data sets A, B, C and the prefix of C used for single add/remove (index 3).
fn generate(dir: &Path, plan: &Plan) -> std::io::Result<Vec<Dataset>> {
    let mut rng = SplitMix64::new(data::SEED);
    let mut out = Vec::new();
    let mut c = Vec::new();
    for (id, kind, n) in [
        ("A", Kind::Addr, plan.a),
        ("B", Kind::Addr, plan.b),
        ("C", Kind::Net24, plan.c),
    ] {
        let entries = data::generate(&mut rng, kind, n);
        let files = data::write_files(dir, id, kind, &entries)?;
        out.push(Dataset {
            id,
            kind,
            entries: n,
            files,
        });
        if kind == Kind::Net24 {
            c = entries;
        }
    }
    let n = plan.single_set.min(c.len());
    let files = data::write_files(dir, "single", Kind::Net24, &c[..n])?;
    out.push(Dataset {
        id: "single",
        kind: Kind::Net24,
        entries: n,
        files,
    });
    Ok(out)
}

/// Cost of `ip netns exec` itself (new mount namespace, /sys remount, exec): part of every wall
/// time and RSS below, shown so small numbers can be read against it.
fn baseline(plan: &Plan) -> Result<Measured, String> {
    let ns = Netns::create("bench").map_err(|e| e.to_string())?;
    let mut walls = Vec::new();
    let mut rss = 0;
    for _ in 0..plan.reps {
        let r = run(&ns.command("true"), OP_TIMEOUT).map_err(|e| e.to_string())?;
        walls.push(r.wall_ms());
        rss = rss.max(r.peak_rss_kib);
    }
    Ok(Measured::external(median(&walls), rss, None))
}

/// meanwhile on average (0 on an otherwise idle machine).
fn timed_run(cmd: &Command, timeout: Duration) -> Result<(measure::Run, f64), String> {
    let before = quiet::cpu_stat();
    let r = run(cmd, timeout).map_err(|e| e.to_string())?;
    let other = match (before, quiet::cpu_stat()) {
        (Some(a), Some(b)) => {
            let foreign = quiet::busy_seconds(a, b) - r.cpu.as_secs_f64();
            (foreign / r.wall.as_secs_f64().max(1e-3)).max(0.0)
        }
        _ => 0.0,
    };
    Ok((r, other))
}

/// Before a measurement: give the kernel time to finish freeing the last namespace's sets, then
/// wait (bounded) for the machine to be quiet. Returns the seconds spent checking and waiting.
fn settle(plan: &Plan) -> f64 {
    crate::settle(plan.settle, plan.quiet_max_wait).0
}

/// palisade: create the set (not timed), then time the bulk load and read its own timings.
fn palisade_load(pal: &Palisade, ds: &Dataset) -> Result<Measured, String> {
    let ns = Netns::create("bench").map_err(|e| e.to_string())?;
    setup(
        &pal.cmd(&ns, &["set", "create", "bench", "--block", "drop"]),
        OP_TIMEOUT,
    )
    .map_err(|e| format!("set create: {e}"))?;
    let file = ds.files.plain.to_string_lossy();
    let (r, other) = timed_run(
        &pal.cmd(
            &ns,
            &["set", "load", "bench", &file, "--format", "plain", "--json"],
        ),
        LOAD_TIMEOUT,
    )?;
    let json = report::PalisadeJson::parse(&r.stdout)?;
    if let Some(r) = json.ranges_v4.filter(|&r| r != ds.entries as u64) {
        return Err(format!(
            "palisade merged the data into {r} ranges, expected {} (the data should not merge)",
            ds.entries
        ));
    }
    if json.added != ds.entries as u64 || json.removed != 0 {
        return Err(format!(
            "palisade reported added={} removed={}, expected added={} removed=0",
            json.added, json.removed, ds.entries
        ));
    }
    verify_in_kernel(&ns, ds.entries)?;
    Ok(Measured {
        wall_ms: r.wall_ms(),
        peak_rss_kib: r.peak_rss_kib,
        commit_ms: Some(json.commit_ms),
        timings: json.timings,
        batch: json.batch,
        other_cpu: Some(other),
    })
}

/// `nft -f` of a whole script (one transaction), then a check that every element arrived.
fn nft_load(script: &Path, entries: usize) -> Result<Measured, String> {
    let ns = Netns::create("bench").map_err(|e| e.to_string())?;
    let (r, other) = timed_run(
        ns.command("nft").args(["-f", &script.to_string_lossy()]),
        LOAD_TIMEOUT,
    )?;
    verify_in_kernel(&ns, entries)?;
    Ok(Measured::external(r.wall_ms(), r.peak_rss_kib, Some(other)))
}

/// Count the IPv4 set elements the kernel holds in the namespace, with `nft` rather than the
/// tool under test, so a tool that is fast because it loaded less is caught. Only IPv4
/// addresses, networks and ranges count, wherever they are: the check does not depend on how a
/// tool names its tables and sets, nor on bookkeeping sets it keeps beside them (palisade's
/// `NAME_stamp` holds a mark). Untimed; it is slow (about a minute for a million elements).
fn verify_in_kernel(ns: &Netns, expected: usize) -> Result<(), String> {
    let listed = setup(ns.command("nft").args(["list", "ruleset"]), LOAD_TIMEOUT)
        .map_err(|e| format!("verifying with nft list ruleset: {e}"))?;
    let n = count_ipv4_elements(&listed);
    if n == expected {
        Ok(())
    } else {
        Err(format!(
            "the kernel holds {n} IPv4 set elements, expected {expected}"
        ))
    }
}

/// IPv4 items (`a.b.c.d`, `a.b.c.d/len`, `a-b`, possibly followed by `timeout ...` and the
/// like) in every `elements = { ... }` of an `nft list` output.
fn count_ipv4_elements(listing: &str) -> usize {
    const OPEN: &str = "elements = {";
    let is_v4 = |item: &str| {
        let first = item.split_whitespace().next().unwrap_or("");
        first
            .split(['/', '-'])
            .next()
            .is_some_and(|a| a.parse::<std::net::Ipv4Addr>().is_ok())
    };
    let mut n = 0;
    let mut rest = listing;
    while let Some(start) = rest.find(OPEN) {
        let body = &rest[start + OPEN.len()..];
        let end = body.find('}').unwrap_or(body.len());
        n += body[..end].split(',').filter(|e| is_v4(e)).count();
        rest = &body[end..];
    }
    n
}

/// `ipset restore -f`, then a check of the entry count ipset reports.
fn ipset_load(ds: &Dataset) -> Result<Measured, String> {
    let ns = Netns::create("bench").map_err(|e| e.to_string())?;
    let (r, other) = timed_run(
        ns.command("ipset")
            .args(["restore", "-f", &ds.files.ipset.to_string_lossy()]),
        LOAD_TIMEOUT,
    )?;
    let listed = setup(ns.command("ipset").args(["list", "s", "-t"]), OP_TIMEOUT)
        .map_err(|e| format!("listing the set: {e}"))?;
    let n = listed
        .lines()
        .find_map(|l| l.strip_prefix("Number of entries:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    if n != ds.entries {
        return Err(format!("ipset holds {n} entries, expected {}", ds.entries));
    }
    Ok(Measured::external(r.wall_ms(), r.peak_rss_kib, Some(other)))
}

/// Loads the set of `single.entries` networks (untimed).
type Prep<'a> = Box<dyn Fn(&Netns) -> Result<(), String> + 'a>;
/// Builds the command adding (`true`) or deleting the probe network.
type Op<'a> = Box<dyn Fn(&Netns, bool) -> Command + 'a>;
/// Says whether an address inside the probe network is in the set now.
type Check<'a> = Box<dyn Fn(&Netns) -> Result<bool, String> + 'a>;

/// How one tool does the single add/remove measurement.
struct SingleTool<'a> {
    name: &'static str,
    prep: Prep<'a>,
    op: Op<'a>,
    holds_probe: Check<'a>,
}

/// Exit status 0 as `true`, 1 as `false`, anything else as an error: the convention of both
/// `palisade set test` and `nft get element`.
fn yes_no(mut cmd: Command) -> Result<bool, String> {
    let out = cmd.output().map_err(|e| e.to_string())?;
    match out.status.code() {
        Some(0) => Ok(true),
        Some(1) => Ok(false),
        _ => Err(format!(
            "{cmd:?}: {} {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )),
    }
}

/// An address inside [`data::PROBE`], to check presence.
const PROBE_HOST: &str = "203.0.113.1";

/// Single add and delete of [`data::PROBE`] into a set of `single.entries` networks, repeated;
/// the median is what an operator banning one network at a time would see. After the first add
/// and the first delete the probe's presence is checked, so a command that returns quickly
/// without doing its job is caught.
fn single_ops(pal: &Palisade, single: &Dataset, plan: &Plan) -> (Vec<Row>, f64) {
    let mut rows = Vec::new();
    let mut waited = 0.0;
    let file = single.files.plain.to_string_lossy().into_owned();
    let nft_file = single.files.nft.to_string_lossy().into_owned();
    let probe_elem = format!("{{ {} }}", data::PROBE);
    let host_elem = format!("{{ {PROBE_HOST} }}");

    let tools = [
        SingleTool {
            name: "palisade",
            prep: Box::new(|ns| {
                setup(
                    &pal.cmd(ns, &["set", "create", "bench", "--block", "drop"]),
                    OP_TIMEOUT,
                )
                .map_err(|e| format!("set create: {e}"))?;
                setup(
                    &pal.cmd(ns, &["set", "load", "bench", &file, "--format", "plain"]),
                    LOAD_TIMEOUT,
                )
                .map(|_| ())
                .map_err(|e| format!("set load: {e}"))
            }),
            op: Box::new(|ns, add| {
                let op = if add { "add" } else { "del" };
                pal.cmd(ns, &["set", op, "bench", data::PROBE])
            }),
            holds_probe: Box::new(|ns| yes_no(pal.cmd(ns, &["set", "test", "bench", PROBE_HOST]))),
        },
        SingleTool {
            name: "nft",
            prep: Box::new(|ns| {
                setup(ns.command("nft").args(["-f", &nft_file]), LOAD_TIMEOUT)
                    .map(|_| ())
                    .map_err(|e| format!("nft -f: {e}"))
            }),
            op: Box::new(|ns, add| {
                let mut c = ns.command("nft");
                c.args([
                    if add { "add" } else { "delete" },
                    "element",
                    "inet",
                    "bench",
                    "s",
                    &probe_elem,
                ]);
                c
            }),
            holds_probe: Box::new(|ns| {
                let mut c = ns.command("nft");
                c.args(["get", "element", "inet", "bench", "s", &host_elem]);
                yes_no(c)
            }),
        },
    ];

    for tool in &tools {
        waited += settle(plan);
        let result = (|| -> Result<[Measured; 2], String> {
            let ns = Netns::create("bench").map_err(|e| e.to_string())?;
            (tool.prep)(&ns)?;
            let (mut adds, mut dels) = (Vec::new(), Vec::new());
            let (mut add_rss, mut del_rss) = (0, 0);
            for i in 0..plan.reps {
                let a = run(&(tool.op)(&ns, true), OP_TIMEOUT).map_err(|e| format!("add: {e}"))?;
                if i == 0 && !(tool.holds_probe)(&ns)? {
                    return Err(format!("{} is not in the set after add", data::PROBE));
                }
                adds.push(a.wall_ms());
                add_rss = add_rss.max(a.peak_rss_kib);
                let d = run(&(tool.op)(&ns, false), OP_TIMEOUT).map_err(|e| format!("del: {e}"))?;
                if i == 0 && (tool.holds_probe)(&ns)? {
                    return Err(format!("{} is still in the set after del", data::PROBE));
                }
                dels.push(d.wall_ms());
                del_rss = del_rss.max(d.peak_rss_kib);
            }
            let m = |walls: &[f64], rss| Measured::external(median(walls), rss, None);
            Ok([m(&adds, add_rss), m(&dels, del_rss)])
        })();
        let (add, del) = match result {
            Ok([a, d]) => (Ok(a), Ok(d)),
            Err(e) => (Err(e.clone()), Err(e)),
        };
        for (op_name, r) in [("add", add), ("del", del)] {
            let label = format!("{} {op_name}", tool.name);
            log("single", &label, &r);
            rows.push(Row {
                dataset: "single".to_string(),
                tool: label,
                entries: single.entries,
                result: r,
            });
        }
    }
    (rows, waited)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_ipv4_elements_across_sets_only() {
        let l = "table inet palisade {\n\tset bench_v4 {\n\t\ttype ipv4_addr\n\t\tflags interval,timeout\n\t\telements = { 1.0.0.2, 1.0.0.4 timeout 1h expires 59m,\n\t\t\t     2.0.0.0/24, 3.0.0.1-3.0.0.9 }\n\t}\n\tset bench_v6 {\n\t\telements = { ::1 }\n\t}\n\tset bench_stamp {\n\t\telements = { 0x6ccdb362 }\n\t}\n\tset u {\n\t}\n}\n";
        assert_eq!(count_ipv4_elements(l), 4);
        assert_eq!(count_ipv4_elements("table inet bench { set s { } }"), 0);
    }
}
