//! `palisade-bench flood`: several sources flood nginx with HTTP requests while one legitimate
//! client asks for a page ten times a second; measured without protection, with palisade's
//! per-source rate limit, and with the limit banning flooders by itself.
//!
//! What it tells: whether the legitimate client keeps being served (success rate, latency), how
//! much of the flood still reaches nginx (requests served per second against the configured
//! rate), and what that costs the server (nginx's CPU). Every packet stays between the lab's
//! two namespaces.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::blocking::client::percentile;
use crate::blocking::lab::{Lab, CLIENT, FILE, FILE_SIZE, PORT, SERVER};
use crate::{Args, Palisade, TempDir};

/// The per-source limit under test: each flooder gets 20 new connections a second, 40 at once.
const LIMIT: &str = "20/second burst 40";
const LIMIT_PER_SEC: f64 = 20.0;
/// The legitimate client's pace.
const LEGIT_INTERVAL: Duration = Duration::from_millis(100);

struct Scenario {
    name: &'static str,
    /// palisade config applied in the server namespace, if any.
    config: Option<String>,
}

fn scenarios() -> Vec<Scenario> {
    let allow = |extra: &str| {
        format!(
            "[input]\npolicy = \"drop\"\nallow = [{{ service = \"http\", limit = \"{LIMIT}\", per_source = true{extra} }}]\n"
        )
    };
    vec![
        Scenario {
            name: "no protection",
            config: None,
        },
        Scenario {
            name: "rate limit per source",
            config: Some(allow("")),
        },
        Scenario {
            name: "rate limit, ban on exceed",
            config: Some(allow(", over = \"ban\", ban_for = \"10m\"")),
        },
    ]
}

struct Plan {
    seconds: u64,
    sources: u8,
    threads_per_source: usize,
}

/// The outcome of one scenario.
struct Outcome {
    name: &'static str,
    legit_sent: usize,
    legit_ok: usize,
    legit_ms: Vec<f64>,
    flood_attempts: u64,
    flood_served: u64,
    seconds: f64,
    nginx_cpu: f64,
}

/// One GET of the test file from `source`: its time, if it was served in full.
fn get(source: Ipv4Addr, connect_wait: Duration) -> Option<Duration> {
    let t = Instant::now();
    let dest = SocketAddr::from((SERVER, PORT));
    let mut s = palisade_lab::connect_from(IpAddr::V4(source), dest, connect_wait).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.write_all(
        format!("GET {FILE} HTTP/1.1\r\nHost: lab\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .ok()?;
    let mut buf = Vec::with_capacity(FILE_SIZE + 512);
    s.read_to_end(&mut buf).ok()?;
    (buf.starts_with(b"HTTP/1.1 200") && buf.len() >= FILE_SIZE).then(|| t.elapsed())
}

fn flooder(i: u8) -> Ipv4Addr {
    Ipv4Addr::new(198, 51, 100, 10 + i)
}

fn run_scenario(
    sc: &Scenario,
    plan: &Plan,
    pal: &Palisade,
    scratch: &std::path::Path,
) -> Result<Outcome, String> {
    let lab = Lab::start("flood", scratch).map_err(|e| format!("lab: {e}"))?;
    for i in 0..plan.sources {
        lab.add_probe(flooder(i))
            .map_err(|e| format!("flood address: {e}"))?;
    }
    if let Some(config) = &sc.config {
        let path = scratch.join("flood.toml");
        std::fs::write(&path, config).map_err(|e| e.to_string())?;
        let out = pal
            .cmd(&lab.server, &["-q", "apply", "-c", &path.to_string_lossy()])
            .output()
            .map_err(|e| format!("palisade: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "palisade apply: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    crate::settle(
        Duration::from_millis(300),
        Duration::from_secs(if plan.seconds > 5 { 60 } else { 5 }),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let attempts = Arc::new(AtomicU64::new(0));
    let served = Arc::new(AtomicU64::new(0));
    let mut flood = Vec::new();
    for i in 0..plan.sources {
        for _ in 0..plan.threads_per_source {
            let (stop, attempts, served) = (stop.clone(), attempts.clone(), served.clone());
            let handle = lab
                .client
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        attempts.fetch_add(1, Ordering::Relaxed);
                        if get(flooder(i), Duration::from_millis(200)).is_some() {
                            served.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                })
                .map_err(|e| e.to_string())?;
            flood.push(handle);
        }
    }
    let cpu0 = lab.server_cpu_seconds();
    let t0 = Instant::now();
    let seconds = plan.seconds;
    let legit = lab
        .client
        .run(move || {
            let mut times = Vec::new();
            let mut sent = 0;
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(seconds) {
                let next = start + LEGIT_INTERVAL * (sent as u32 + 1);
                sent += 1;
                if let Some(d) = get(CLIENT, Duration::from_secs(1)) {
                    times.push(d.as_secs_f64() * 1000.0);
                }
                std::thread::sleep(next.saturating_duration_since(Instant::now()));
            }
            (sent, times)
        })
        .map_err(|e| e.to_string())?;
    let elapsed = t0.elapsed().as_secs_f64();
    let nginx_cpu = lab.server_cpu_seconds() - cpu0;
    stop.store(true, Ordering::Relaxed);
    for h in flood {
        let _ = h.join();
    }
    let (legit_sent, mut legit_ms) = legit;
    legit_ms.sort_by(f64::total_cmp);
    Ok(Outcome {
        name: sc.name,
        legit_sent,
        legit_ok: legit_ms.len(),
        legit_ms,
        flood_attempts: attempts.load(Ordering::Relaxed),
        flood_served: served.load(Ordering::Relaxed),
        seconds: elapsed,
        nginx_cpu,
    })
}

fn report(outcomes: &[Outcome], plan: &Plan) -> String {
    let mut md = format!(
        "{} flooding sources ({} connections at a time each) and one legitimate client (a 10 KiB page every {} ms) against nginx, {} s per scenario. Limit under test: `{LIMIT}` per source, so at most {:.0} flood requests/s should reach nginx once the bursts are spent.\n\n",
        plan.sources,
        plan.threads_per_source,
        LEGIT_INTERVAL.as_millis(),
        plan.seconds,
        LIMIT_PER_SEC * f64::from(plan.sources),
    );
    md.push_str("| scenario | legitimate served | median ms | p99 ms | flood attempts/s | flood served/s | nginx CPU |\n|---|---:|---:|---:|---:|---:|---:|\n");
    for o in outcomes {
        md.push_str(&format!(
            "| {} | {}/{} ({:.1}%) | {:.2} | {:.2} | {:.0} | {:.0} | {:.0}% |\n",
            o.name,
            o.legit_ok,
            o.legit_sent,
            100.0 * o.legit_ok as f64 / o.legit_sent.max(1) as f64,
            percentile(&o.legit_ms, 50.0),
            percentile(&o.legit_ms, 99.0),
            o.flood_attempts as f64 / o.seconds,
            o.flood_served as f64 / o.seconds,
            100.0 * o.nginx_cpu / o.seconds,
        ));
    }
    md
}

pub fn bench(args: &Args) -> Result<bool, String> {
    let plan = if args.quick {
        Plan {
            seconds: 2,
            sources: 2,
            threads_per_source: 2,
        }
    } else {
        Plan {
            seconds: 15,
            sources: 4,
            threads_per_source: 8,
        }
    };
    let tmp = TempDir::new().map_err(|e| format!("temp dir: {e}"))?;
    let (pal, _) = Palisade::snapshot(args, &tmp.0);
    let mut outcomes = Vec::new();
    for sc in scenarios() {
        eprintln!("{} flood: {}", crate::elapsed(), sc.name);
        outcomes.push(run_scenario(&sc, &plan, &pal, &tmp.0)?);
    }
    let md = report(&outcomes, &plan);
    std::fs::create_dir_all(&args.out).map_err(|e| e.to_string())?;
    std::fs::write(args.out.join("flood.md"), &md).map_err(|e| e.to_string())?;
    let mut csv = String::from("scenario,legit_sent,legit_ok,legit_median_ms,legit_p99_ms,flood_attempts,flood_served,seconds,nginx_cpu_s\n");
    for o in &outcomes {
        csv.push_str(&format!(
            "{},{},{},{:.3},{:.3},{},{},{:.3},{:.3}\n",
            o.name,
            o.legit_sent,
            o.legit_ok,
            percentile(&o.legit_ms, 50.0),
            percentile(&o.legit_ms, 99.0),
            o.flood_attempts,
            o.flood_served,
            o.seconds,
            o.nginx_cpu
        ));
    }
    std::fs::write(args.out.join("flood.csv"), csv).map_err(|e| e.to_string())?;
    println!("{md}");
    // Every scenario measured something: the legitimate client made its requests.
    Ok(outcomes.iter().all(|o| o.legit_sent > 0))
}
