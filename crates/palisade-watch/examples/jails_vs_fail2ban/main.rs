//! Development harness: palisade's built-in jails against fail2ban's own filters on
//! fail2ban's annotated test logs (Debian's `fail2ban` package, GPL: read in place, never
//! copied here). Not a test: it needs that package.
//!
//! ```text
//! cargo run --release -p palisade-watch --example jails_vs_fail2ban [-- -v]
//! ```
//!
//! Per jail: the distinct addresses palisade's jail finds, those `fail2ban-regex` finds
//! with fail2ban's filter of the same name and mode on the same file, those the file's
//! annotations name, the ones fail2ban finds and palisade does not, and wrong hosts: an
//! address palisade accuses on a line whose annotation names another one. Lines where
//! palisade accuses someone fail2ban does not count on that line are listed with `-v` (a
//! stricter count, a failure told over several lines, or a hole to look at).

mod corpus;
mod reference;

use std::collections::BTreeSet;
use std::net::IpAddr;

use palisade_core::policy::Services;
use palisade_watch::{parse_watch_config, MemorySource};

/// (palisade jail, its mode, fail2ban filter and options, test log, lines as the journal).
const JAILS: &[(&str, &str, &str, &str, bool)] = &[
    ("sshd", "normal", "sshd", "sshd", false),
    ("sshd", "aggressive", "sshd[mode=aggressive]", "sshd", false),
    (
        "sshd",
        "normal",
        "sshd[logtype=journal]",
        "sshd-journal",
        true,
    ),
    (
        "sshd",
        "aggressive",
        "sshd[logtype=journal, mode=aggressive]",
        "sshd-journal",
        true,
    ),
    (
        "nginx-http-auth",
        "normal",
        "nginx-http-auth",
        "nginx-http-auth",
        false,
    ),
    (
        "nginx-http-auth",
        "aggressive",
        "nginx-http-auth[mode=aggressive]",
        "nginx-http-auth",
        false,
    ),
    (
        "nginx-limit-req",
        "normal",
        "nginx-limit-req",
        "nginx-limit-req",
        false,
    ),
    (
        "nginx-botsearch",
        "normal",
        "nginx-botsearch",
        "nginx-botsearch",
        false,
    ),
    (
        "nginx-bad-request",
        "normal",
        "nginx-bad-request",
        "nginx-bad-request",
        false,
    ),
    ("apache-auth", "normal", "apache-auth", "apache-auth", false),
    (
        "apache-auth",
        "aggressive",
        "apache-auth[mode=aggressive]",
        "apache-auth",
        false,
    ),
    (
        "apache-badbots",
        "normal",
        "apache-badbots",
        "apache-badbots",
        false,
    ),
    (
        "apache-botsearch",
        "normal",
        "apache-botsearch",
        "apache-botsearch",
        false,
    ),
    (
        "apache-noscript",
        "normal",
        "apache-noscript",
        "apache-noscript",
        false,
    ),
    (
        "apache-overflows",
        "normal",
        "apache-overflows",
        "apache-overflows",
        false,
    ),
    (
        "apache-shellshock",
        "normal",
        "apache-shellshock",
        "apache-shellshock",
        false,
    ),
    (
        "apache-nohome",
        "normal",
        "apache-nohome",
        "apache-nohome",
        false,
    ),
    (
        "apache-modsecurity",
        "normal",
        "apache-modsecurity",
        "apache-modsecurity",
        false,
    ),
    (
        "apache-fakegooglebot",
        "normal",
        "apache-fakegooglebot",
        "apache-fakegooglebot",
        false,
    ),
    ("postfix", "normal", "postfix", "postfix", false),
    (
        "postfix",
        "aggressive",
        "postfix[mode=aggressive]",
        "postfix",
        false,
    ),
    (
        "postfix-sasl",
        "normal",
        "postfix[mode=auth]",
        "postfix",
        false,
    ),
    ("dovecot", "normal", "dovecot", "dovecot", false),
    (
        "dovecot",
        "aggressive",
        "dovecot[mode=aggressive]",
        "dovecot",
        false,
    ),
    ("vsftpd", "normal", "vsftpd", "vsftpd", false),
    ("proftpd", "normal", "proftpd", "proftpd", false),
    ("mysqld-auth", "normal", "mysqld-auth", "mysqld-auth", false),
];

struct Row {
    label: String,
    ours: BTreeSet<IpAddr>,
    theirs: BTreeSet<IpAddr>,
    annotated: BTreeSet<IpAddr>,
    wrong: Vec<String>,
    extra: Vec<String>,
}

fn run(jail: &str, mode: &str, spec: &str, log: &str, journal: bool) -> Result<Row, String> {
    let path = corpus::log_dir().join(log);
    let lines = corpus::read(&path);
    let no_filters = |_: &std::path::Path| Box::new(MemorySource::new()) as _;
    // A jail that needs the set of the genuine party's networks gets one; the harness only
    // matches lines and looks nothing up, as with an empty set (fail2ban-regex does not run
    // fail2ban's ignorecommand either).
    let genuine = if palisade_watch::genuine_required(jail) {
        "genuine = \"harness-empty\"\n"
    } else {
        ""
    };
    let cfg = parse_watch_config(
        "harness.toml",
        &format!("[jails.{jail}]\nmode = \"{mode}\"\nfile = \"/dev/null\"\n{genuine}"),
        &Services::new(""),
        &no_filters,
    )
    .map_err(|e| e.to_string())?;
    let mut matcher = cfg.jails[0].matcher();
    let mut row = Row {
        label: format!("{jail}[{mode}] / {spec}"),
        ours: BTreeSet::new(),
        theirs: reference::fail2ban_hosts(&corpus::filter_dir(), &path, spec)?,
        annotated: BTreeSet::new(),
        wrong: Vec::new(),
        extra: Vec::new(),
    };
    for (i, line) in lines.iter().enumerate() {
        if let Some(a) = &line.annotation {
            if a.matches {
                row.annotated.extend(a.host);
            }
        }
        // A journal entry reaches palisade's jails as `IDENT[PID]: MESSAGE` (fail2ban's
        // journal lines start with the host name).
        let text = if journal {
            line.text.split_once(' ').map_or("", |(_, rest)| rest)
        } else {
            &line.text
        };
        for host in matcher.feed(text.as_bytes(), 1_000_000 + i as u64) {
            row.ours.insert(host);
            let said = match &line.annotation {
                Some(a) if a.matches && a.host.is_some_and(|h| h != host) => {
                    row.wrong.push(format!(
                        "{log}:{}: {host} (annotated {}): {}",
                        line.number, a.host_text, line.text
                    ));
                    continue;
                }
                Some(a) if a.matches && !a.host_text.is_empty() => continue,
                Some(a) if a.matches => "annotated with no host",
                Some(_) => "annotated as no failure",
                None => "not annotated",
            };
            // An address accused on a line that does not name it came from the
            // connection's other lines: worth a look by hand.
            let said = if line.text.contains(&host.to_string()) {
                said.to_string()
            } else {
                format!("{said}, NOT IN THE LINE")
            };
            row.extra.push(format!(
                "{log}:{}: {host} ({said}): {}",
                line.number, line.text
            ));
        }
    }
    Ok(row)
}

fn main() {
    let verbose = std::env::args().any(|a| a == "-v");
    if !corpus::log_dir().is_dir() || !corpus::filter_dir().is_dir() {
        eprintln!("fail2ban's test logs or filters are missing: apt-get install fail2ban");
        std::process::exit(2);
    }
    println!(
        "| jail (palisade / fail2ban) | palisade | fail2ban | annotated | fail2ban only | wrong hosts |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    let (mut ours, mut theirs, mut annotated, mut wrong_total, mut missing_total) = (0, 0, 0, 0, 0);
    let mut notes = Vec::new();
    for (jail, mode, spec, log, journal) in JAILS {
        let row = match run(jail, mode, spec, log, *journal) {
            Ok(r) => r,
            Err(e) => {
                println!("| {jail}[{mode}] / {spec} | error: {e} | | | | |");
                continue;
            }
        };
        let missing: Vec<String> = row
            .theirs
            .difference(&row.ours)
            .map(|h| h.to_string())
            .collect();
        println!(
            "| {} | {} | {} | {} | {} | {} |",
            row.label,
            row.ours.len(),
            row.theirs.len(),
            row.annotated.len(),
            missing.len(),
            row.wrong.len()
        );
        ours += row.ours.len();
        theirs += row.theirs.len();
        annotated += row.annotated.len();
        wrong_total += row.wrong.len();
        missing_total += missing.len();
        if !missing.is_empty() {
            notes.push(format!(
                "{}: only fail2ban finds {}",
                row.label,
                missing.join(" ")
            ));
        }
        notes.extend(row.wrong.iter().map(|w| format!("WRONG {w}")));
        if verbose {
            let ours_only: Vec<String> = row
                .ours
                .difference(&row.theirs)
                .map(|h| h.to_string())
                .collect();
            if !ours_only.is_empty() {
                notes.push(format!(
                    "{}: only palisade finds {}",
                    row.label,
                    ours_only.join(" ")
                ));
            }
            notes.extend(
                row.extra
                    .iter()
                    .map(|x| format!("{}: extra {x}", row.label)),
            );
        }
    }
    println!("| **total** | {ours} | {theirs} | {annotated} | {missing_total} | {wrong_total} |");
    for n in notes {
        println!("{n}");
    }
}
