//! Results as CSV (for tools) and Markdown (for people), with the ratios the targets are
//! stated in, so a reader never has to do the arithmetic to see whether a target was met.

use std::fmt::Write as _;

use super::Plan;
use crate::data::{self, Kind};
use crate::machine::Environment;

/// What one measurement produced.
#[derive(Debug, Clone)]
pub struct Measured {
    pub wall_ms: f64,
    pub peak_rss_kib: u64,
    /// The kernel's own time to apply the transaction, as palisade reports it.
    pub commit_ms: Option<f64>,
    /// palisade's phase timings (name, ms), in the order it does them.
    pub timings: Vec<(String, f64)>,
    /// palisade's transaction size: (bytes, netlink messages), when it says.
    pub batch: Option<(u64, u64)>,
    /// Cores kept busy on average by anything but the measured program while it ran.
    pub other_cpu: Option<f64>,
}

impl Measured {
    /// A measurement of a tool that reports nothing about itself: time and memory only.
    pub fn external(wall_ms: f64, peak_rss_kib: u64, other_cpu: Option<f64>) -> Self {
        Self {
            wall_ms,
            peak_rss_kib,
            commit_ms: None,
            timings: Vec::new(),
            batch: None,
            other_cpu,
        }
    }
}

/// One line of the results: a tool on a data set, or the failure that stopped it.
#[derive(Debug)]
pub struct Row {
    pub dataset: String,
    pub tool: String,
    pub entries: usize,
    pub result: Result<Measured, String>,
}

/// The one JSON object `palisade set load --json` prints.
pub struct PalisadeJson {
    pub added: u64,
    /// IPv4 ranges after palisade's merging, when it says; must equal the entries, since the
    /// data is built so that nothing can merge.
    pub ranges_v4: Option<u64>,
    pub removed: u64,
    pub commit_ms: f64,
    pub timings: Vec<(String, f64)>,
    pub batch: Option<(u64, u64)>,
}

/// palisade's phases in pipeline order; unknown extra phases are listed after these.
const PHASES: [&str; 6] = ["parse", "dump", "diff", "encode", "commit", "total"];

impl PalisadeJson {
    pub fn parse(stdout: &str) -> Result<Self, String> {
        // The object is the whole output, or else its last line that is one.
        let v: serde_json::Value = serde_json::from_str(stdout.trim())
            .or_else(|_| {
                let line = stdout
                    .lines()
                    .rev()
                    .find(|l| l.trim_start().starts_with('{'))
                    .unwrap_or("");
                serde_json::from_str(line)
            })
            .map_err(|e| format!("palisade --json output is not JSON ({e}): {stdout:.200}"))?;
        let num = |key: &str| v.get(key).and_then(serde_json::Value::as_u64);
        let added = num("added").ok_or("palisade --json: no `added`")?;
        let removed = num("removed").unwrap_or(0);
        let t = v
            .get("timings_ms")
            .and_then(serde_json::Value::as_object)
            .ok_or("palisade --json: no `timings_ms`")?;
        let commit_ms = t
            .get("commit")
            .and_then(serde_json::Value::as_f64)
            .ok_or("palisade --json: no `timings_ms.commit`")?;
        let mut timings: Vec<(String, f64)> = PHASES
            .iter()
            .filter_map(|p| {
                t.get(*p)
                    .and_then(|x| x.as_f64())
                    .map(|x| (p.to_string(), x))
            })
            .collect();
        for (k, x) in t {
            if !PHASES.contains(&k.as_str()) {
                if let Some(x) = x.as_f64() {
                    timings.push((k.clone(), x));
                }
            }
        }
        Ok(Self {
            added,
            ranges_v4: num("ranges_v4"),
            batch: num("batch_bytes").zip(num("messages")),
            removed,
            commit_ms,
            timings,
        })
    }
}

/// Everything one run produced.
pub struct Report {
    pub plan: Plan,
    pub env: Environment,
    pub baseline: Result<Measured, String>,
    /// Seconds spent waiting for the machine to be quiet before measurements.
    pub waited_for_quiet_s: f64,
    pub rows: Vec<Row>,
    /// (data set id, kind, entries) for the description.
    pub kinds: Vec<(String, Kind, usize)>,
}

fn opt(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.3}")).unwrap_or_default()
}

fn ratio(x: f64) -> String {
    format!("{x:.2}x")
}

fn mib(kib: u64) -> String {
    format!("{:.1}", kib as f64 / 1024.0)
}

impl Report {
    /// `dataset,tool,entries,wall_ms,peak_rss_kib,commit_ms`; a failed measurement has empty
    /// numbers (its reason is in the Markdown report).
    pub fn csv(&self) -> String {
        let mut s = String::from("dataset,tool,entries,wall_ms,peak_rss_kib,commit_ms\n");
        for r in &self.rows {
            let (wall, rss, commit) = match &r.result {
                Ok(m) => (
                    format!("{:.3}", m.wall_ms),
                    m.peak_rss_kib.to_string(),
                    opt(m.commit_ms),
                ),
                Err(_) => Default::default(),
            };
            let _ = writeln!(
                s,
                "{},{},{},{wall},{rss},{commit}",
                r.dataset, r.tool, r.entries
            );
        }
        s
    }

    fn get(&self, dataset: &str, tool: &str) -> Option<&Measured> {
        self.rows
            .iter()
            .find(|r| r.dataset == dataset && r.tool == tool)
            .and_then(|r| r.result.as_ref().ok())
    }

    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let p = &self.plan;
        let e = &self.env;
        let _ = writeln!(
            s,
            "# palisade-bench load{}\n",
            if p.quick { " (quick smoke run)" } else { "" }
        );
        let _ = writeln!(
            s,
            "Machine: {} CPU(s), {}, {} RAM, Linux {}. Tools: {}; {}; {} (binary built {}, \
             work tree at {}).\n",
            e.nproc,
            e.cpu,
            e.ram,
            e.kernel,
            e.nft,
            e.ipset,
            e.palisade,
            e.palisade_built,
            e.revision
        );
        s.push_str(
            "Data (seed fixed, entries in random order, no two entries overlapping or adjacent):\n",
        );
        for (id, kind, n) in &self.kinds {
            if id == "single" {
                let _ = writeln!(
                    s,
                    "- single: the first {n} networks of C, into which `{}` is added and deleted, {} times",
                    data::PROBE,
                    p.reps
                );
            } else {
                let _ = writeln!(s, "- {id}: {n} distinct IPv4 {}", kind.noun());
            }
        }
        s.push('\n');
        s.push_str(
            "Each load runs in a fresh network namespace. Wall time is from spawn to exit of \
             `ip netns exec NS TOOL ...`; peak RSS is the process's `ru_maxrss` from `wait4`. \
             palisade: `palisade set load bench FILE --format plain --json` after an untimed \
             `set create bench --block drop` (a blocklist: networks of a common prefix length \
             go into a hash part of their own); nft: `nft -f` of one script (one transaction, \
             interval set, 10,000 elements per `add element` line); ipset: `ipset restore -f` \
             (hash:ip / hash:net, hashsize 1048576). Kernel commit is the time palisade \
             reports from sending the batch to the last acknowledgement. Before each \
             measurement the benchmark waits for the machine to be quiet; \"other CPU\" is \
             how many cores anything but the measured program kept busy on average while it ran (0.00 on an idle machine; \
             the kernel freeing an earlier namespace would show here too; coarse, 10 ms ticks, \
             for runs well under a second).\n\n",
        );
        let _ = writeln!(
            s,
            "Time spent waiting for a quiet machine: {:.0} s.\n",
            self.waited_for_quiet_s
        );
        if let Ok(b) = &self.baseline {
            let _ = writeln!(
                s,
                "Baseline `ip netns exec NS true`: {:.1} ms, {} MiB peak RSS (included in every \
                 number below; RSS below this is not measurable this way).\n",
                b.wall_ms,
                mib(b.peak_rss_kib)
            );
        }

        s.push_str("## Loads\n\n| data set | entries | tool | wall ms | peak RSS MiB | kernel commit ms | other CPU |\n|---|---:|---|---:|---:|---:|---:|\n");
        for r in self.rows.iter().filter(|r| r.dataset != "single") {
            match &r.result {
                Ok(m) => {
                    let _ = writeln!(
                        s,
                        "| {} | {} | {} | {:.1} | {} | {} | {} |",
                        r.dataset,
                        r.entries,
                        r.tool,
                        m.wall_ms,
                        mib(m.peak_rss_kib),
                        m.commit_ms.map(|c| format!("{c:.1}")).unwrap_or_default(),
                        m.other_cpu.map(|c| format!("{c:.2}")).unwrap_or_default()
                    );
                }
                Err(_) => {
                    let _ = writeln!(
                        s,
                        "| {} | {} | {} | FAILED (see Failures) | | | |",
                        r.dataset, r.entries, r.tool
                    );
                }
            }
        }

        let phases: Vec<(&str, &Measured)> = ["A", "B", "C"]
            .iter()
            .filter_map(|d| self.get(d, "palisade").map(|m| (*d, m)))
            .filter(|(_, m)| !m.timings.is_empty())
            .collect();
        if let Some((_, first)) = phases.first() {
            s.push_str("\npalisade's own phase timings (ms, from `--json`):\n\n| data set |");
            for (k, _) in &first.timings {
                let _ = write!(s, " {k} |");
            }
            s.push_str(" batch MiB | messages |\n|---|");
            s.push_str(&"---:|".repeat(first.timings.len() + 2));
            s.push('\n');
            for (d, m) in &phases {
                let _ = write!(s, "| {d} |");
                for (_, v) in &m.timings {
                    let _ = write!(s, " {v:.1} |");
                }
                match m.batch {
                    Some((bytes, msgs)) => {
                        let _ = writeln!(s, " {:.1} | {msgs} |", bytes as f64 / 1048576.0);
                    }
                    None => s.push_str(" | |\n"),
                }
            }
        }

        s.push_str("\n## Ratios\n\n| data set | nft / palisade time | nft / palisade memory | nft-hash / palisade time | nft-hash / palisade memory | ipset / palisade time | ipset / palisade memory | palisade wall / kernel commit |\n|---|---:|---:|---:|---:|---:|---:|---:|\n");
        for d in ["A", "B", "C"] {
            let pal = self.get(d, "palisade");
            let cell = |other: Option<&Measured>, mem: bool| match (pal, other) {
                (Some(p), Some(o)) if mem => ratio(o.peak_rss_kib as f64 / p.peak_rss_kib as f64),
                (Some(p), Some(o)) => ratio(o.wall_ms / p.wall_ms),
                _ => "n/a".into(),
            };
            let commit = pal
                .and_then(|p| p.commit_ms.map(|c| ratio(p.wall_ms / c)))
                .unwrap_or_else(|| "n/a".into());
            let _ = writeln!(
                s,
                "| {d} | {} | {} | {} | {} | {} | {} | {commit} |",
                cell(self.get(d, "nft"), false),
                cell(self.get(d, "nft"), true),
                cell(self.get(d, "nft-hash"), false),
                cell(self.get(d, "nft-hash"), true),
                cell(self.get(d, "ipset"), false),
                cell(self.get(d, "ipset"), true),
            );
        }
        s.push_str(
            "\n(x > 1: palisade is faster / smaller. nft: interval set; nft-hash: plain hash set, \
             addresses only, since a hash set cannot hold networks.)\n",
        );

        let single_n = self
            .rows
            .iter()
            .find(|r| r.dataset == "single")
            .map(|r| r.entries)
            .unwrap_or(0);
        let _ = writeln!(
            s,
            "\n## Single add/remove into a set of {single_n} networks (median of {})\n\n| operation | palisade ms | nft ms | nft / palisade |\n|---|---:|---:|---:|",
            p.reps
        );
        for (op, nft_op) in [("add", "add"), ("del", "del")] {
            let pal = self.get("single", &format!("palisade {op}"));
            let nft = self.get("single", &format!("nft {nft_op}"));
            let f = |m: Option<&Measured>| {
                m.map(|m| format!("{:.1}", m.wall_ms))
                    .unwrap_or_else(|| "FAILED".into())
            };
            let r = match (pal, nft) {
                (Some(p), Some(n)) => ratio(n.wall_ms / p.wall_ms),
                _ => "n/a".into(),
            };
            let _ = writeln!(s, "| {op} | {} | {} | {r} |", f(pal), f(nft));
        }

        s.push_str("\n## Targets\n\n");
        if p.quick {
            s.push_str("(Quick run: the sets are too small for the targets to mean anything; shown only to exercise the report.)\n\n");
        }
        s.push_str("| target | measured | met |\n|---|---|---|\n");
        for (target, measured, met) in self.targets() {
            let verdict = match met {
                Some(true) => "yes",
                Some(false) => "**no**",
                None => "not measured",
            };
            let _ = writeln!(s, "| {target} | {measured} | {verdict} |");
        }

        let failures: Vec<&Row> = self.rows.iter().filter(|r| r.result.is_err()).collect();
        if !failures.is_empty() || self.baseline.is_err() {
            s.push_str("\n## Failures\n\n");
            if let Err(e) = &self.baseline {
                let _ = writeln!(s, "- baseline: {e}");
            }
            for r in failures {
                if let Err(e) = &r.result {
                    let _ = writeln!(s, "- {} / {}: {e}", r.dataset, r.tool);
                }
            }
        }
        s
    }

    /// (target, what was measured, met?) — `None` when a needed measurement is missing.
    fn targets(&self) -> Vec<(String, String, Option<bool>)> {
        let sets = ["A", "B", "C"];
        let mut out = Vec::new();
        // Per data set: (label, ratio) where ratio > threshold means met; None if missing.
        let collect = |f: &dyn Fn(&str) -> Option<f64>| -> Vec<(&str, Option<f64>)> {
            sets.iter().map(|d| (*d, f(d))).collect()
        };
        let summarize = |v: &[(&str, Option<f64>)], ok: &dyn Fn(f64) -> bool| {
            let text = v
                .iter()
                .map(|(d, x)| match x {
                    Some(x) => format!("{d} {}", ratio(*x)),
                    None => format!("{d} n/a"),
                })
                .collect::<Vec<_>>()
                .join(", ");
            let met = if v.iter().any(|(_, x)| x.is_none()) {
                None
            } else {
                Some(v.iter().all(|(_, x)| ok(x.unwrap_or(f64::NAN))))
            };
            (text, met)
        };
        let speedup = |d: &str, tool: &str| {
            Some(self.get(d, tool)?.wall_ms / self.get(d, "palisade")?.wall_ms)
        };

        let nft = collect(&|d| speedup(d, "nft"));
        let (t, m) = summarize(&nft, &|x| x > 1.0);
        out.push((
            "faster than `nft -f` on every load".to_string(),
            format!("nft / palisade time: {t}"),
            m,
        ));
        let hash: Vec<(&str, Option<f64>)> = ["A", "B"]
            .iter()
            .map(|d| (*d, speedup(d, "nft-hash")))
            .collect();
        let (t, m) = summarize(&hash, &|x| x > 1.0);
        out.push((
            "(extra) faster than `nft -f` into a hash set, on addresses".to_string(),
            format!("nft-hash / palisade time: {t}"),
            m,
        ));
        let ipset = collect(&|d| speedup(d, "ipset"));
        let (t, m) = summarize(&ipset, &|x| x > 1.0);
        out.push((
            "faster than `ipset restore` on every load".to_string(),
            format!("ipset / palisade time: {t}"),
            m,
        ));
        let c = speedup("C", "nft");
        out.push((
            ">= 4x faster than `nft -f` on networks (C)".to_string(),
            c.map(|x| format!("C {}", ratio(x)))
                .unwrap_or_else(|| "n/a".into()),
            c.map(|x| x >= 4.0),
        ));
        let commit = collect(&|d| {
            let p = self.get(d, "palisade")?;
            Some(p.wall_ms / p.commit_ms?)
        });
        let (t, m) = summarize(&commit, &|x| x <= 1.5);
        out.push((
            "within 1.5x of the kernel commit time".to_string(),
            format!("palisade wall / commit: {t}"),
            m,
        ));
        let mem = collect(&|d| {
            Some(
                self.get(d, "nft")?.peak_rss_kib as f64
                    / self.get(d, "palisade")?.peak_rss_kib as f64,
            )
        });
        let (t, m) = summarize(&mem, &|x| x > 10.0);
        out.push((
            "peak memory < 1/10 of nft".to_string(),
            format!("nft / palisade peak RSS: {t}"),
            m,
        ));
        let add = self.get("single", "palisade add").map(|m| m.wall_ms);
        let del = self.get("single", "palisade del").map(|m| m.wall_ms);
        let (text, met) = match (add, del) {
            (Some(a), Some(d)) => (
                format!("add {a:.1} ms, del {d:.1} ms"),
                Some(a < 10.0 && d < 10.0),
            ),
            _ => ("n/a".into(), None),
        };
        out.push(("single add/remove < 10 ms".to_string(), text, met));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_palisade_json() {
        let j = PalisadeJson::parse(
            r#"{"set":"bench","added":3,"removed":0,"unchanged":0,"timings_ms":{"total":9.5,"parse":1.0,"dump":0.5,"diff":0.1,"encode":0.4,"commit":7.0}}"#,
        )
        .unwrap();
        assert_eq!(j.added, 3);
        assert_eq!(j.commit_ms, 7.0);
        let names: Vec<&str> = j.timings.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, PHASES);
        assert!(PalisadeJson::parse("not json").is_err());
        assert!(PalisadeJson::parse("note\n{\"added\":1,\"timings_ms\":{\"commit\":1}}\n").is_ok());
    }
}
