//! `palisade-bench blocking`: HTTP response time and throughput against the number of blocked
//! addresses, for one iptables rule per address, one rule matching an ipset, palisade's set, and
//! no firewall at all.
//!
//! The classic measurement: a firewall with one rule per blocked address makes every packet
//! walk all the rules, so each request slows in proportion to N, while a set is one lookup
//! whatever its size. Each method gets its own lab (server and client namespaces, nginx), all
//! labs stay up for the whole run, and at each N the methods' requests are interleaved in
//! rounds, so a slow drift of the shared machine touches every method alike.

pub mod client;
pub mod lab;
mod methods;
mod plot;
mod report;
mod wrk;

use std::time::Duration;

use crate::data::{self, Kind, SplitMix64};
use crate::{elapsed, Args, Palisade, TempDir};
use client::Sample;
use lab::{Lab, CLIENT, FILE_SIZE};
use methods::Method;
use wrk::{WrkPlan, WrkResult};

/// How long a blocked probe address is given to connect before it counts as blocked.
const PROBE_WAIT: Duration = Duration::from_millis(300);

/// Sizes of one run.
#[derive(Clone, Debug)]
pub struct Plan {
    pub quick: bool,
    /// The numbers of blocked addresses, ascending.
    pub ns: Vec<usize>,
    /// The largest N for one-rule-per-address methods (beyond it, loading and measuring take
    /// too long to be useful).
    pub linear_max: usize,
    /// Sequential requests per method and N.
    pub requests: usize,
    /// The requests are made in this many rounds, each going through every method (in an order
    /// rotated each round). Fine-grained interleaving matters: in rounds of 300 requests, the
    /// medians of identical setups at N = 0 differed by up to 7%; in rounds of 50, by 2%.
    pub rounds: usize,
    /// The Ns at which wrk measures throughput.
    pub wrk_ns: Vec<usize>,
    /// wrk runs once per method and round, the methods interleaved like the requests.
    pub wrk_rounds: usize,
    pub wrk: WrkPlan,
    /// How long to wait for other work on the machine to stop before each N.
    pub quiet_max_wait: Duration,
}

impl Plan {
    pub fn new(quick: bool) -> Self {
        if quick {
            Plan {
                quick,
                ns: vec![0, 1_000],
                linear_max: 1_000,
                requests: 300,
                rounds: 10,
                wrk_ns: vec![1_000],
                wrk_rounds: 1,
                wrk: WrkPlan {
                    duration: Duration::from_secs(1),
                    connections: 10,
                },
                quiet_max_wait: Duration::from_secs(2),
            }
        } else {
            Plan {
                quick,
                ns: vec![
                    0, 100, 1_000, 3_000, 10_000, 30_000, 50_000, 100_000, 300_000, 1_000_000,
                ],
                linear_max: 100_000,
                requests: 5_000,
                rounds: 100,
                wrk_ns: vec![0, 10_000, 50_000, 1_000_000],
                wrk_rounds: 3,
                wrk: WrkPlan {
                    duration: Duration::from_secs(3),
                    connections: 10,
                },
                quiet_max_wait: Duration::from_secs(120),
            }
        }
    }

    /// Is `method` measured at `n`?
    pub fn covers(&self, method: Method, n: usize) -> bool {
        !method.linear() || n <= self.linear_max
    }
}

/// The sequential requests of one method at one N.
pub struct Point {
    pub method: Method,
    pub n: usize,
    /// Wall time of the command that loaded this N (0 for no firewall).
    pub load_ms: f64,
    pub samples: Vec<Sample>,
}

/// One wrk run.
pub struct WrkRow {
    pub method: Method,
    pub n: usize,
    pub keep_alive: bool,
    pub round: usize,
    /// Busy cores on the machine just before the run (the labs idle).
    pub busy_before: f64,
    pub result: WrkResult,
}

/// The state of the machine before one N was measured.
pub struct Step {
    pub n: usize,
    /// Seconds spent waiting for the machine to be quiet.
    pub waited_s: f64,
    /// Busy cores (apart from the idle labs) when measuring started.
    pub busy_cores: f64,
}

/// Everything one run measured, and what it could not.
pub struct Results {
    pub plan: Plan,
    pub points: Vec<Point>,
    pub wrk: Vec<WrkRow>,
    pub steps: Vec<Step>,
    /// Seconds spent waiting for the machine to be quiet before wrk runs.
    pub wrk_waited_s: f64,
    /// (method, N or none, why): a method that failed is not measured further.
    pub failures: Vec<(Method, Option<usize>, String)>,
    /// The 1-minute load average at the start and at the end of the run.
    pub loadavg: (String, String),
}

impl Results {
    /// True when every method was measured at every N the plan covers (its requests and each
    /// of its wrk runs), and nothing failed: what the quick run checks.
    pub fn complete(&self) -> bool {
        let p = &self.plan;
        let requests_done = |m: Method, n: usize| {
            self.points
                .iter()
                .any(|x| x.method == m && x.n == n && x.samples.len() >= p.requests)
        };
        let wrk_done = |m: Method, n: usize, keep_alive: bool| {
            let runs = self.wrk.iter().filter(|w| {
                w.method == m && w.n == n && w.keep_alive == keep_alive && w.result.requests > 0
            });
            runs.count() == p.wrk_rounds
        };
        self.failures.is_empty()
            && p.ns.iter().all(|&n| {
                Method::ALL.iter().all(|&m| {
                    !p.covers(m, n)
                        || (requests_done(m, n)
                            && (!p.wrk_ns.contains(&n)
                                || (wrk_done(m, n, false) && wrk_done(m, n, true))))
                })
            })
    }
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "unknown".into())
}

/// The whole run; `Ok(false)` when the outputs were written but some measurement failed.
pub fn bench(args: &Args) -> Result<bool, String> {
    if !palisade_lab::available() {
        return Err("needs root and iproute2 to create network namespaces".into());
    }
    let plan = Plan::new(args.quick);
    let tmp = TempDir::new().map_err(|e| format!("temp dir: {e}"))?;
    let (pal, shown) = Palisade::snapshot(args, &tmp.0);
    let env = crate::machine::Environment::collect(&shown);
    let load_start = loadavg();

    let max_n = plan.ns.iter().copied().max().unwrap_or(0);
    eprintln!("{} generating {max_n} addresses ...", elapsed());
    let addrs = data::generate(&mut SplitMix64::new(data::SEED), Kind::Addr, max_n);

    let mut failures = Vec::new();
    let mut labs: Vec<(Method, Lab)> = Vec::new();
    for m in Method::ALL {
        let started = match m.unavailable(&pal) {
            Some(why) => Err(why),
            None => Lab::start(m.name(), &tmp.0)
                .map_err(|e| format!("building the lab: {e}"))
                .and_then(|lab| m.prepare(&lab, &pal).map(|()| lab)),
        };
        match started {
            Ok(lab) => labs.push((m, lab)),
            Err(e) => {
                eprintln!("{} {}: NOT MEASURED: {e}", elapsed(), m.name());
                failures.push((m, None, e));
            }
        }
    }
    eprintln!("{} {} labs up", elapsed(), labs.len());

    let mut points = Vec::new();
    let mut wrk_rows = Vec::new();
    let mut steps = Vec::new();
    let mut wrk_waited_s = 0.0;
    for &n in &plan.ns {
        let files = methods::write_step_files(&tmp.0, &addrs, n, n <= plan.linear_max)
            .map_err(|e| format!("writing the lists for N = {n}: {e}"))?;
        let mut load_ms = Vec::new();
        labs.retain(|(m, lab)| {
            if !plan.covers(*m, n) {
                return true;
            }
            match load_and_check(*m, lab, &files, &addrs, &pal) {
                Ok(ms) => {
                    eprintln!("{} [N={n}] {} loaded in {ms:.0} ms", elapsed(), m.name());
                    load_ms.push((*m, ms));
                    true
                }
                Err(e) => {
                    eprintln!("{} [N={n}] {}: FAILED: {e}", elapsed(), m.name());
                    failures.push((*m, Some(n), e));
                    false
                }
            }
        });
        let (waited_s, busy_cores) = crate::settle(Duration::ZERO, plan.quiet_max_wait);
        steps.push(Step {
            n,
            waited_s,
            busy_cores,
        });
        let active: Vec<&(Method, Lab)> = labs.iter().filter(|(m, _)| plan.covers(*m, n)).collect();
        let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); active.len()];
        let mut failed: Vec<Option<String>> = vec![None; active.len()];
        let per_round = plan.requests.div_ceil(plan.rounds);
        for round in 0..plan.rounds {
            for k in 0..active.len() {
                // Rotate the order each round, so no method is always first after a pause.
                let i = (k + round) % active.len();
                if failed[i].is_some() {
                    continue;
                }
                let (_, lab) = active[i];
                match lab
                    .client
                    .run(|| client::run_sequence(CLIENT, per_round, FILE_SIZE))
                {
                    Ok(Ok(s)) => samples[i].extend(s),
                    Ok(Err(e)) => failed[i] = Some(format!("request failed: {e}")),
                    Err(e) => failed[i] = Some(format!("entering the client namespace: {e}")),
                }
            }
        }
        for (i, (m, _)) in active.iter().enumerate() {
            if let Some(e) = failed[i].take() {
                eprintln!("{} [N={n}] {}: FAILED: {e}", elapsed(), m.name());
                failures.push((*m, Some(n), e));
                continue;
            }
            let point = Point {
                method: *m,
                n,
                load_ms: load_ms
                    .iter()
                    .find(|(lm, _)| lm == m)
                    .map_or(0.0, |(_, ms)| *ms),
                samples: std::mem::take(&mut samples[i]),
            };
            eprintln!(
                "{} [N={n}] {}: complete median {:.0} us over {} requests",
                elapsed(),
                m.name(),
                report::median_us(&point.samples, 3),
                point.samples.len()
            );
            points.push(point);
        }
        if plan.wrk_ns.contains(&n) {
            for keep_alive in [false, true] {
                for round in 0..plan.wrk_rounds {
                    for k in 0..active.len() {
                        let (m, lab) = active[(k + round) % active.len()];
                        // wrk keeps both cores busy, so anything else running on the machine
                        // takes straight from its rate: wait for quiet before every run.
                        let (waited, busy_before) =
                            crate::settle(Duration::ZERO, plan.quiet_max_wait);
                        wrk_waited_s += waited;
                        match wrk::run(lab, plan.wrk, keep_alive) {
                            Ok(result) => {
                                eprintln!(
                                    "{} [N={n}] {} wrk keep-alive {}: {:.0} requests/s",
                                    elapsed(),
                                    m.name(),
                                    if keep_alive { "on" } else { "off" },
                                    result.requests_per_s
                                );
                                wrk_rows.push(WrkRow {
                                    method: *m,
                                    n,
                                    keep_alive,
                                    round,
                                    busy_before,
                                    result,
                                });
                            }
                            Err(e) => {
                                eprintln!("{} [N={n}] {} wrk: FAILED: {e}", elapsed(), m.name());
                                failures.push((*m, Some(n), format!("wrk: {e}")));
                            }
                        }
                    }
                }
            }
        }
    }
    drop(labs);

    let results = Results {
        plan,
        points,
        wrk: wrk_rows,
        steps,
        wrk_waited_s,
        failures,
        loadavg: (load_start, loadavg()),
    };
    write_outputs(args, &env, &results)?;
    Ok(results.complete())
}

/// Bring `m` to the first `files.n` addresses, then check independently that it holds that many
/// and that it really blocks: a connection from the last listed address (the last rule, for
/// the linear methods) must fail while the client's own address is served.
fn load_and_check(
    m: Method,
    lab: &Lab,
    files: &methods::StepFiles,
    addrs: &[u32],
    pal: &Palisade,
) -> Result<f64, String> {
    let n = files.n;
    if m == Method::None {
        return Ok(0.0);
    }
    let ms = m.apply(lab, files, pal)?;
    let held = m.count(lab, pal)?;
    if held != n {
        return Err(format!("holds {held} addresses, expected {n}"));
    }
    if n == 0 {
        return Ok(ms);
    }
    let probe = std::net::Ipv4Addr::from(addrs[n - 1]);
    lab.add_probe(probe).map_err(|e| e.to_string())?;
    let blocked = lab.connects_from(probe, PROBE_WAIT).map(|ok| !ok);
    let _ = lab.remove_probe(probe);
    match blocked {
        Ok(true) => {}
        Ok(false) => return Err(format!("a connection from the listed {probe} got through")),
        Err(e) => return Err(e.to_string()),
    }
    if !lab
        .connects_from(CLIENT, Duration::from_secs(2))
        .map_err(|e| e.to_string())?
    {
        return Err(format!("the client {CLIENT} (not listed) is not served"));
    }
    Ok(ms)
}

fn write_outputs(
    args: &Args,
    env: &crate::machine::Environment,
    r: &Results,
) -> Result<(), String> {
    let out = &args.out;
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let write = |name: &str, content: &[u8]| {
        let p = out.join(name);
        std::fs::write(&p, content).map_err(|e| format!("{}: {e}", p.display()))
    };
    write("blocking.csv", report::requests_csv(r).as_bytes())?;
    write("blocking-wrk.csv", report::wrk_csv(r).as_bytes())?;
    let md = report::markdown(r, env);
    write("blocking.md", md.as_bytes())?;
    let png = out.join("blocking.png");
    plot::draw(r, &png)?;
    println!("{md}");
    eprintln!(
        "wrote {}, {}, {} and {}",
        out.join("blocking.csv").display(),
        out.join("blocking-wrk.csv").display(),
        out.join("blocking.md").display(),
        png.display()
    );
    Ok(())
}
