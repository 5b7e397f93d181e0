//! Every annotated line of fail2ban's test logs through the filter it was written for,
//! processed as fail2ban's own sample test does (`filterOptions` blocks, `addFILE`,
//! journal lines without timestamps), compared with its `# failJSON:` annotation.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use palisade_f2b::{load_filter, DirSource, FilterMatcher, FilterSpec};
use serde_json::{Map, Value};

#[derive(Default)]
struct Tally {
    expected: usize,
    found: usize,
    /// Annotated hosts palisade never bans: names (never resolved), non-addresses
    /// (`192.030.0.6`), the unspecified address `0.0.0.0`.
    not_addresses: usize,
    missed: Vec<String>,
    unexpected: Vec<String>,
    wrong_host: Vec<String>,
    hosts_annotated: BTreeSet<IpAddr>,
    hosts_found: BTreeSet<IpAddr>,
}

type Opts = Map<String, Value>;

fn spec_for(name: &str, opts: &Opts) -> FilterSpec {
    let mut spec = FilterSpec::named(name);
    for (k, v) in opts {
        if !k.starts_with("test.") {
            let v = v
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| v.to_string());
            spec = spec.with_option(k, &v);
        }
    }
    spec
}

/// The few Python expressions the logs use: `name == 'x'`, `opts.get('k') != 'v'`.
fn holds(expr: &str, name: &str, opts: &Opts) -> bool {
    let (lhs, op, rhs) = if let Some((l, r)) = expr.split_once("!=") {
        (l.trim(), "!=", r.trim())
    } else if let Some((l, r)) = expr.split_once("==") {
        (l.trim(), "==", r.trim())
    } else {
        return true;
    };
    let rhs = rhs.trim_matches('\'').trim_matches('"');
    let value = if lhs == "name" {
        Some(name.to_string())
    } else if let Some(key) = lhs
        .strip_prefix("opts.get(")
        .and_then(|k| k.strip_suffix(')'))
    {
        opts.get(key.trim_matches('\'').trim_matches('"'))
            .and_then(|v| v.as_str())
            .map(str::to_string)
    } else {
        return true;
    };
    (value.as_deref() == Some(rhs)) == (op == "==")
}

pub fn run() {
    let logs = crate::log_dir();
    let source = DirSource::new(crate::filter_dir());
    let mut total = Tally::default();
    let mut rows = Vec::new();
    // Distinct annotated addresses, distinct addresses found, annotated ones never found.
    let mut total_hosts = (0, 0, 0);
    for name in crate::filter_names(&crate::filter_dir()) {
        if !logs.join(&name).is_file() {
            continue;
        }
        let mut t = Tally::default();
        let mut matchers: BTreeMap<String, FilterMatcher> = BTreeMap::new();
        let mut files = vec![name.clone()];
        let mut i = 0;
        let mut load_error = None;
        while i < files.len() {
            let file = files[i].clone();
            i += 1;
            let Ok(text) = std::fs::read(logs.join(&file)) else {
                continue;
            };
            let text = String::from_utf8_lossy(&text).into_owned();
            let mut common = Opts::new();
            let mut tests: Vec<(String, Opts)> = Vec::new();
            let mut ignore_block = false;
            let mut lines = text.lines().enumerate();
            while let Some((lnum, line)) = lines.next() {
                let mut faildata = Opts::new();
                let mut line = line.to_string();
                let directive = line.trim_start_matches('#').trim_start().to_string();
                if line.starts_with('#') {
                    let Some((kind, json)) = directive.split_once(':') else {
                        continue;
                    };
                    let kind = kind.trim();
                    if !matches!(
                        kind,
                        "failJSON" | "fileOptions" | "filterOptions" | "addFILE"
                    ) {
                        continue;
                    }
                    let value: Value = serde_json::from_str(json.trim()).unwrap_or(Value::Null);
                    match kind {
                        "fileOptions" => {
                            common = value.as_object().cloned().unwrap_or_default();
                            continue;
                        }
                        "filterOptions" => {
                            tests.clear();
                            ignore_block = false;
                            let list = match value {
                                Value::Array(a) => a,
                                other => vec![other],
                            };
                            for o in list {
                                let mut opts = common.clone();
                                opts.extend(o.as_object().cloned().unwrap_or_default());
                                if let Some(c) = opts.get("test.condition").and_then(|c| c.as_str())
                                {
                                    ignore_block = !holds(c, &name, &opts);
                                }
                                if !ignore_block {
                                    tests.push((Value::Object(opts.clone()).to_string(), opts));
                                }
                            }
                            continue;
                        }
                        "addFILE" => {
                            if let Some(f) = value.as_str() {
                                files.push(f.to_string());
                            }
                            continue;
                        }
                        _ => {
                            faildata = value.as_object().cloned().unwrap_or_default();
                            match lines.next() {
                                Some((_, next)) => line = next.to_string(),
                                None => break,
                            }
                        }
                    }
                } else if ignore_block || line.trim().is_empty() {
                    continue;
                }
                if ignore_block {
                    continue;
                }
                if tests.is_empty() {
                    tests.push((Value::Object(common.clone()).to_string(), common.clone()));
                }
                for (key, opts) in &tests {
                    if let Some(c) = faildata.get("constraint").and_then(|c| c.as_str()) {
                        if !holds(c, &name, opts) {
                            continue;
                        }
                    }
                    if !matchers.contains_key(key) {
                        match load_filter(&spec_for(&name, opts), &source) {
                            Ok(f) => {
                                matchers.insert(key.clone(), f.matcher());
                            }
                            Err(e) => {
                                load_error = Some(e.to_string());
                                continue;
                            }
                        }
                    }
                    let m = matchers.get_mut(key).expect("inserted above");
                    let journal = opts.get("logtype").and_then(|v| v.as_str()) == Some("journal");
                    let mut fed = line.clone();
                    if journal {
                        if let Some(p) = opts.get("test.prefix-line").and_then(|v| v.as_str()) {
                            fed = format!("{p}{fed}");
                        }
                    }
                    let found = m.feed(fed.as_bytes());
                    let expect = faildata
                        .get("match")
                        .and_then(|v| v.as_bool())
                        .unwrap_or(false);
                    let host = faildata.get("host").and_then(|v| v.as_str());
                    let at = format!(
                        "{file}:{} [{}] {}",
                        lnum + 2,
                        key,
                        line.chars().take(100).collect::<String>()
                    );
                    let host_ip = host
                        .and_then(|h| h.parse::<IpAddr>().ok())
                        .filter(|ip| !ip.is_unspecified());
                    if expect {
                        t.expected += 1;
                        if let Some(ip) = host_ip {
                            t.hosts_annotated.insert(ip);
                        }
                    }
                    match (&found, expect) {
                        (Some(f), true) => {
                            t.hosts_found.insert(f.host);
                            match host_ip {
                                Some(ip) if ip == f.host => t.found += 1,
                                None if host.is_none() => t.found += 1,
                                _ => t
                                    .wrong_host
                                    .push(format!("{at} -> {} (annotated {host:?})", f.host)),
                            }
                        }
                        (Some(f), false) => {
                            t.hosts_found.insert(f.host);
                            t.unexpected.push(format!("{at} -> {}", f.host));
                        }
                        (None, true) if host.is_some() && host_ip.is_none() => t.not_addresses += 1,
                        (None, true) => t.missed.push(at),
                        (None, false) => {}
                    }
                }
            }
        }
        if let Some(e) = load_error {
            t.missed.push(format!("filter not loaded: {e}"));
        }
        rows.push((name, t));
    }
    println!("\n== annotations: fail2ban's test logs, line by line");
    println!(
        "{:<24} {:>8} {:>6} {:>7} {:>7} {:>6} {:>6} {:>10} {:>10} {:>8}",
        "filter",
        "expected",
        "found",
        "no-ban",
        "missed",
        "extra",
        "wrong",
        "hosts-ann",
        "hosts-ours",
        "ann-lost"
    );
    for (name, t) in &rows {
        let lost = t.hosts_annotated.difference(&t.hosts_found).count();
        println!(
            "{:<24} {:>8} {:>6} {:>7} {:>7} {:>6} {:>6} {:>10} {:>10} {:>8}",
            name,
            t.expected,
            t.found,
            t.not_addresses,
            t.missed.len(),
            t.unexpected.len(),
            t.wrong_host.len(),
            t.hosts_annotated.len(),
            t.hosts_found.len(),
            lost
        );
        total_hosts.0 += t.hosts_annotated.len();
        total_hosts.1 += t.hosts_found.len();
        total_hosts.2 += lost;
        total.expected += t.expected;
        total.found += t.found;
        total.not_addresses += t.not_addresses;
        total
            .missed
            .extend(t.missed.iter().map(|m| format!("{name}: {m}")));
        total
            .unexpected
            .extend(t.unexpected.iter().map(|m| format!("{name}: {m}")));
        total
            .wrong_host
            .extend(t.wrong_host.iter().map(|m| format!("{name}: {m}")));
    }
    println!(
        "TOTAL: {} filters with logs; {} failure lines annotated, {} found with the annotated host, {} annotated with a host palisade never bans (a name, a non-address, 0.0.0.0), {} missed, {} unexpected, {} WRONG HOST",
        rows.len(), total.expected, total.found, total.not_addresses, total.missed.len(), total.unexpected.len(), total.wrong_host.len()
    );
    println!(
        "distinct addresses per filter, summed: {} annotated, {} found, {} annotated ones never found",
        total_hosts.0, total_hosts.1, total_hosts.2
    );
    for (title, list) in [
        ("missed", &total.missed),
        ("unexpected", &total.unexpected),
        ("WRONG HOST", &total.wrong_host),
    ] {
        if !list.is_empty() {
            println!("-- {title}:");
            for l in list.iter() {
                println!("  {l}");
            }
        }
    }
}
