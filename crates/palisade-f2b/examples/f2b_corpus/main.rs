//! Development harness: palisade-f2b against fail2ban's own filters and annotated test
//! logs, and against `fail2ban-regex`. Not a test: it needs Debian's `fail2ban` package
//! (GPL files, read in place, never copied into this repository).
//!
//! ```text
//! cargo run --release -p palisade-f2b --example f2b_corpus -- [load|annotations|reference|bench LINES]
//! ```
//! With no argument it runs the first three. Paths can be overridden with
//! `F2B_FILTER_DIR` (default `/etc/fail2ban/filter.d`) and `F2B_LOG_DIR` (default fail2ban's
//! `tests/files/logs` under its Python package).

mod annotations;
mod bench;
mod reference;

use std::path::{Path, PathBuf};

use palisade_f2b::{load_filter, DirSource, FilterSpec};

pub fn filter_dir() -> PathBuf {
    std::env::var_os("F2B_FILTER_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DirSource::FAIL2BAN_FILTER_DIR))
}

pub fn log_dir() -> PathBuf {
    std::env::var_os("F2B_LOG_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from("/usr/lib/python3/dist-packages/fail2ban/tests/files/logs")
        })
}

/// Names of the `*.conf` filters in the filter directory, sorted.
pub fn filter_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().to_str().map(str::to_string))
                .filter_map(|n| n.strip_suffix(".conf").map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn load_all() {
    let dir = filter_dir();
    let source = DirSource::new(&dir);
    let names = filter_names(&dir);
    let mut loaded = 0;
    let mut include_only = Vec::new();
    let mut refused = Vec::new();
    let mut backtracking = 0;
    let mut regexes = 0;
    for name in &names {
        match load_filter(&FilterSpec::named(name), &source) {
            Ok(f) => {
                loaded += 1;
                regexes += f.failregexes().len();
                backtracking += f.backtracking_count();
            }
            Err(e) if e.to_string().contains("has no failregex") => include_only.push(name.clone()),
            Err(e) => refused.push(format!("  {name}: {e}")),
        }
    }
    println!("== load: {} filter files in {}", names.len(), dir.display());
    println!(
        "loaded {loaded}/{} filters ({} files are include-only, no failregex: {})",
        names.len() - include_only.len(),
        include_only.len(),
        include_only.join(", ")
    );
    println!("failregexes: {regexes}, of which {backtracking} need the backtracking engine");
    println!("refused: {}", refused.len());
    for r in refused {
        println!("{r}");
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !filter_dir().is_dir() || !log_dir().is_dir() {
        eprintln!(
            "fail2ban's filters ({}) or test logs ({}) are missing: apt-get install fail2ban",
            filter_dir().display(),
            log_dir().display()
        );
        std::process::exit(2);
    }
    match args.first().map(String::as_str) {
        Some("load") => load_all(),
        Some("annotations") => annotations::run(),
        Some("reference") => reference::run(),
        Some("bench") => {
            let lines = args.get(1).and_then(|n| n.parse().ok()).unwrap_or(200_000);
            bench::run(lines);
        }
        _ => {
            load_all();
            annotations::run();
            reference::run();
        }
    }
}
