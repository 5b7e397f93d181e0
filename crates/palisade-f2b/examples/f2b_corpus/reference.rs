//! The same log files through `fail2ban-regex` (fail2ban's own tool, run as a reference
//! only) and through palisade-f2b: distinct attacking addresses each finds per filter.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::Path;
use std::process::Command;

use palisade_f2b::{load_filter, DirSource, FilterSpec};
use serde_json::{Map, Value};

/// Option sets a log is meant to be read with (from its `filterOptions` lines), without
/// journal ones (their lines have no syslog prefix in the file) and `test.` keys.
fn option_sets(text: &str, name: &str) -> Vec<Vec<(String, String)>> {
    let mut sets = vec![Vec::new()];
    for line in text.lines() {
        let Some(json) = line.strip_prefix("# filterOptions:") else {
            continue;
        };
        let list = match serde_json::from_str::<Value>(json.trim()) {
            Ok(Value::Array(a)) => a,
            Ok(other) => vec![other],
            Err(_) => continue,
        };
        for o in list {
            let o: Map<String, Value> = o.as_object().cloned().unwrap_or_default();
            if o.get("logtype").and_then(|v| v.as_str()) == Some("journal") {
                continue;
            }
            if let Some(c) = o.get("test.condition").and_then(|v| v.as_str()) {
                if !c.contains(&format!("'{name}'")) {
                    continue;
                }
            }
            let set: Vec<(String, String)> = o
                .iter()
                .filter(|(k, _)| !k.starts_with("test."))
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| v.to_string()),
                    )
                })
                .collect();
            if !sets.contains(&set) {
                sets.push(set);
            }
        }
    }
    sets
}

fn fail2ban_regex(config_dir: &Path, log: &Path, spec: &str) -> Result<BTreeSet<IpAddr>, String> {
    let out = Command::new("fail2ban-regex")
        .args(["-c"])
        .arg(config_dir)
        .args(["-r", "--no-check-all", "-o", "ip"])
        .arg(log)
        .arg(spec)
        .output()
        .map_err(|e| format!("fail2ban-regex: {e}"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr)
            .lines()
            .last()
            .unwrap_or("")
            .to_string());
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect())
}

pub fn run() {
    let logs = crate::log_dir();
    let filters = crate::filter_dir();
    let config_dir = filters
        .parent()
        .unwrap_or(Path::new("/etc/fail2ban"))
        .to_path_buf();
    let source = DirSource::new(&filters);
    println!("\n== reference: distinct addresses found in each test log, palisade vs fail2ban-regex (--no-check-all, as fail2ban runs)");
    println!(
        "{:<40} {:>9} {:>9} {:>6} {:>10} {:>10}",
        "filter[options]", "palisade", "fail2ban", "both", "only-f2b", "only-ours"
    );
    let (mut sum_ours, mut sum_f2b, mut sum_both) = (0, 0, 0);
    let mut details = Vec::new();
    for name in crate::filter_names(&filters) {
        let log = logs.join(&name);
        let Ok(bytes) = std::fs::read(&log) else {
            continue;
        };
        let text = String::from_utf8_lossy(&bytes).into_owned();
        for set in option_sets(&text, &name) {
            let opts: Vec<String> = set.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let label = if opts.is_empty() {
                name.clone()
            } else {
                format!("{name}[{}]", opts.join(","))
            };
            let mut spec = FilterSpec::named(&name);
            for (k, v) in &set {
                spec = spec.with_option(k, v);
            }
            let ours: BTreeSet<IpAddr> = match load_filter(&spec, &source) {
                Ok(f) => {
                    let mut m = f.matcher();
                    // fail2ban-regex skips comment and empty lines; so does this comparison.
                    text.lines()
                        .filter(|l| !l.starts_with('#') && !l.is_empty())
                        .filter_map(|l| m.feed(l.as_bytes()))
                        .map(|f| f.host)
                        .collect()
                }
                Err(e) => {
                    details.push(format!("{label}: not loaded: {e}"));
                    BTreeSet::new()
                }
            };
            let theirs = match fail2ban_regex(&config_dir, &log, &label) {
                Ok(t) => t,
                Err(e) => {
                    details.push(format!("{label}: fail2ban-regex failed: {e}"));
                    continue;
                }
            };
            let both = ours.intersection(&theirs).count();
            let only_f2b: Vec<String> = theirs.difference(&ours).map(|h| h.to_string()).collect();
            let only_ours: Vec<String> = ours.difference(&theirs).map(|h| h.to_string()).collect();
            println!(
                "{:<40} {:>9} {:>9} {:>6} {:>10} {:>10}",
                label,
                ours.len(),
                theirs.len(),
                both,
                only_f2b.len(),
                only_ours.len()
            );
            if !only_f2b.is_empty() {
                details.push(format!(
                    "{label}: only fail2ban found {}",
                    only_f2b.join(" ")
                ));
            }
            if !only_ours.is_empty() {
                details.push(format!(
                    "{label}: only palisade found {}",
                    only_ours.join(" ")
                ));
            }
            sum_ours += ours.len();
            sum_f2b += theirs.len();
            sum_both += both;
        }
    }
    println!("TOTAL distinct (per filter and options, summed): palisade {sum_ours}, fail2ban {sum_f2b}, both {sum_both}");
    for d in details {
        println!("  {d}");
    }
}
