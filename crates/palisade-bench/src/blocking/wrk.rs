//! Throughput under concurrency: `wrk` in the client namespace against the lab's nginx.
//!
//! Sequential requests show what one visitor waits; a busy server is where the firewall's
//! per-packet cost bites, because every CPU cycle spent walking rules is one not spent serving.
//! Both with keep-alive off (a new connection per request: every request pays the handshake's
//! packets too) and on.

use std::time::Duration;

use super::lab::{Lab, FILE, PORT, SERVER};
use crate::measure::setup;

/// One wrk run's results.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WrkResult {
    pub requests: u64,
    pub requests_per_s: f64,
    /// Latency percentiles in microseconds, from `--latency`.
    pub p50_us: f64,
    pub p90_us: f64,
    pub p99_us: f64,
    /// Socket errors (connect, read, write, timeout) plus non-2xx/3xx responses.
    pub errors: u64,
}

/// How wrk is run.
#[derive(Clone, Copy, Debug)]
pub struct WrkPlan {
    pub duration: Duration,
    pub connections: u32,
}

/// Run wrk with one thread (the other core is nginx's) and `plan.connections` connections.
pub fn run(lab: &Lab, plan: WrkPlan, keep_alive: bool) -> Result<WrkResult, String> {
    let url = format!("http://{SERVER}:{PORT}{FILE}");
    let mut cmd = lab.client.command("wrk");
    cmd.args(["-t1", "--latency"])
        .arg(format!("-c{}", plan.connections))
        .arg(format!("-d{}s", plan.duration.as_secs().max(1)));
    if !keep_alive {
        cmd.args(["-H", "Connection: close"]);
    }
    cmd.arg(&url);
    super::lab::pin_command(&mut cmd, super::lab::CLIENT_CPU);
    let out = setup(&cmd, plan.duration + Duration::from_secs(30)).map_err(|e| e.to_string())?;
    parse(&out)
}

/// A wrk duration (`519.00us`, `1.23ms`, `2.00s`) in microseconds.
fn micros(s: &str) -> Option<f64> {
    let (num, scale) = if let Some(v) = s.strip_suffix("us") {
        (v, 1.0)
    } else if let Some(v) = s.strip_suffix("ms") {
        (v, 1e3)
    } else if let Some(v) = s.strip_suffix('m') {
        (v, 60e6)
    } else if let Some(v) = s.strip_suffix('s') {
        (v, 1e6)
    } else {
        return None;
    };
    num.parse::<f64>().ok().map(|v| v * scale)
}

fn parse(out: &str) -> Result<WrkResult, String> {
    let mut r = WrkResult::default();
    let mut seen_rate = false;
    for line in out.lines().map(str::trim) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["Requests/sec:", v] => {
                r.requests_per_s = v.parse().map_err(|_| format!("bad rate line `{line}`"))?;
                seen_rate = true;
            }
            [n, "requests", "in", ..] => r.requests = n.parse().unwrap_or(0),
            [p @ ("50%" | "90%" | "99%"), v] => {
                let us = micros(v).ok_or_else(|| format!("bad latency line `{line}`"))?;
                match *p {
                    "50%" => r.p50_us = us,
                    "90%" => r.p90_us = us,
                    _ => r.p99_us = us,
                }
            }
            ["Socket", "errors:", rest @ ..] => {
                r.errors += rest
                    .iter()
                    .filter_map(|w| w.trim_end_matches(',').parse::<u64>().ok())
                    .sum::<u64>();
            }
            ["Non-2xx", "or", "3xx", "responses:", n] => r.errors += n.parse().unwrap_or(0),
            _ => {}
        }
    }
    if !seen_rate || r.requests == 0 {
        return Err(format!("wrk measured nothing: {}", out.trim()));
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_wrk_output() {
        let out = "Running 5s test @ http://192.0.2.2:80/10k.bin
  1 threads and 10 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   780.12us  200.00us   5.00ms   90.00%
    Req/Sec    12.00k     1.00k   13.00k    80.00%
  Latency Distribution
     50%  519.00us
     75%  600.00us
     90%    1.23ms
     99%    2.00s
  61234 requests in 5.00s, 640.00MB read
  Socket errors: connect 0, read 2, write 0, timeout 3
  Non-2xx or 3xx responses: 4
Requests/sec:  12246.80
Transfer/sec:    128.00MB
";
        let r = parse(out).unwrap();
        assert_eq!(r.requests, 61234);
        assert_eq!(r.requests_per_s, 12246.8);
        assert_eq!((r.p50_us, r.p90_us, r.p99_us), (519.0, 1230.0, 2e6));
        assert_eq!(r.errors, 9);
        assert!(parse("unable to connect").is_err());
    }
}
