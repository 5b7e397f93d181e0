//! `check`, `plan`, `apply`, `confirm`, `rollback`, `status`, `explain`, `save`, `restore`.

use std::cell::RefCell;
use std::io::Write as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use palisade_core::policy::{
    compile, compile::safe_policy, explain, lint, parse_config, BlockSet, ChainPolicy, CtStates,
    Decision, Direction, Membership, Packet, Policy, Ruleset, Services, Severity, L4,
};
use palisade_core::{AddrRange, Format, ParseOptions, ProtoPort};

use super::apply::{apply, ApplyReport, Desired, DesiredSet};
use super::facts;
use super::lower::{index_of, rule_text, text_of};
use super::records::{now, write_atomic, Applied, Pending, Records};
use super::saved::{self, SavedPolicy, SavedSet, SavedState};
use crate::cli::{ApplyArgs, ExplainArgs, PolicyArgs, StatusArgs};
use crate::commands::Out;
use crate::store::{BlockAction, Contents, SetDef, Store, FAMILY, TABLE};

/// Everything a policy command needs: the kernel, the records, where to save.
pub struct Env {
    pub store: Store,
    pub records: Records,
    pub saved_file: PathBuf,
    /// `--netns NAME`, passed on to the confirm timer.
    pub netns: Option<String>,
}

impl Env {
    fn facts(&mut self) -> palisade_core::policy::HostFacts {
        let ns = self.netns_path();
        facts::host_facts(&mut self.store.nl, ns.as_deref())
    }

    /// The namespace file of `--netns`, if given.
    fn netns_path(&self) -> Option<PathBuf> {
        self.netns.as_ref().map(|n| Path::new("/run/netns").join(n))
    }
}

/// A config read, validated and compiled.
struct Compiled {
    file: String,
    policy: Policy,
    ruleset: Ruleset,
}

fn read_config(path: &Path, facts: &palisade_core::policy::HostFacts) -> Result<Compiled> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the config {file} (choose another with -c FILE)"))?;
    let services = Services::new(&std::fs::read_to_string("/etc/services").unwrap_or_default());
    let policy = parse_config(&file, &text, &services)?;
    let ruleset = compile(&policy, &facts::context(facts));
    Ok(Compiled {
        file,
        policy,
        ruleset,
    })
}

pub fn set_def(decl: &palisade_core::policy::SetDecl) -> SetDef {
    use palisade_core::policy::SetAction;
    SetDef {
        name: decl.name.clone(),
        with_ports: false,
        block: match decl.action {
            SetAction::Drop => Some(BlockAction::Drop),
            SetAction::Reject => Some(BlockAction::Reject),
            SetAction::Accept | SetAction::None => None,
        },
        default_timeout: decl.timeout_secs.map(Duration::from_secs),
        dynamic: decl.dynamic,
    }
}

/// The sets the config declares, with their contents read from files and inline elements.
fn desired_sets(c: &Compiled, base: &Path) -> Result<Vec<DesiredSet>> {
    let mut out = Vec::new();
    for decl in &c.ruleset.sets {
        let files: Vec<PathBuf> = decl.files.iter().map(|f| base.join(f)).collect();
        let parsed =
            crate::load::read_lists(&files, Format::Auto, ParseOptions::default(), false, false)
                .with_context(|| format!("set {} in {}", decl.name, c.file))?;
        let inline = decl.elements.iter().map(|e| {
            palisade_core::parse_addr_range(e, false)
                .map(|a| (a, None))
                .expect("validated by the config parser")
        });
        let mut contents = parsed.contents;
        let extra = Contents::from_ranges(inline);
        contents = contents.union(&extra);
        out.push(DesiredSet {
            def: set_def(decl),
            loaded: contents,
            recent: None,
        });
    }
    Ok(out)
}

fn print_lints(
    c: &Compiled,
    facts: &palisade_core::policy::HostFacts,
    sets: &dyn Membership,
) -> usize {
    let lints = lint(&c.policy, &c.ruleset, facts, sets);
    for l in &lints {
        let label = match l.severity {
            Severity::Warning => "warning",
            Severity::Note => "note",
        };
        eprintln!("{}: {label}: {}", c.file, l.message);
    }
    lints
        .iter()
        .filter(|l| l.severity == Severity::Warning)
        .count()
}

/// Set membership answered by the kernel.
struct KernelSets<'a> {
    store: RefCell<&'a mut Store>,
    defs: Vec<SetDef>,
}

impl Membership for KernelSets<'_> {
    fn contains(&self, set: &str, addr: IpAddr, port: Option<(u8, u16)>) -> bool {
        let Some(def) = self.defs.iter().find(|d| d.name == set) else {
            return false;
        };
        let range = AddrRange::from(addr);
        let port = port.map(|(proto, port)| ProtoPort { proto, port });
        self.store
            .borrow_mut()
            .test(def, range, port)
            .unwrap_or(false)
    }
}

fn kernel_sets(store: &mut Store) -> Result<KernelSets<'_>> {
    let defs = store.sets()?;
    Ok(KernelSets {
        store: RefCell::new(store),
        defs,
    })
}

pub fn check(env: &mut Env, a: &PolicyArgs) -> Result<i32> {
    let facts = env.facts();
    let c = read_config(&a.config, &facts)?;
    desired_sets(&c, &config_dir(&a.config))?;
    let jails = crate::watch::read_config(&a.config)?;
    let sets = kernel_sets(&mut env.store)?;
    let warnings = print_lints(&c, &facts, &sets);
    let rules: usize = c.ruleset.chains.iter().map(|ch| ch.rules.len()).sum();
    println!(
        "{}: valid: {} rules in {} chains, {} sets, {} jails; {warnings} warnings",
        c.file,
        rules,
        c.ruleset.chains.len(),
        c.ruleset.sets.len(),
        jails.jails.len()
    );
    Ok(0)
}

fn config_dir(p: &Path) -> PathBuf {
    p.parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// Kernel rule texts per policy chain, each rule once, in order.
fn kernel_rules(store: &mut Store) -> Result<Vec<(String, Vec<String>)>> {
    let rules = match store.nl.rules(FAMILY, TABLE) {
        Ok(r) => r,
        Err(e) if e.errno() == Some(libc::ENOENT) => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    let mut last: Option<(String, Option<usize>)> = None;
    for r in rules
        .iter()
        .filter(|r| r.chain.starts_with(super::apply::CHAIN_PREFIX))
    {
        let comment = r
            .comment
            .clone()
            .unwrap_or_else(|| format!("(rule {} not written by palisade)", r.handle));
        let index = index_of(&comment);
        if last.as_ref() == Some(&(r.chain.clone(), index)) && index.is_some() {
            continue; // another kernel rule of the same policy rule (a set's parts)
        }
        last = Some((r.chain.clone(), index));
        match out.iter_mut().find(|(c, _)| *c == r.chain) {
            Some((_, v)) => v.push(text_of(&comment).to_string()),
            None => out.push((r.chain.clone(), vec![text_of(&comment).to_string()])),
        }
    }
    Ok(out)
}

/// Lines of a minimal edit script from `old` to `new` (longest common subsequence).
fn diff_lines(old: &[String], new: &[String]) -> Vec<(char, String)> {
    let (n, m) = (old.len(), new.len());
    let mut lcs = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if old[i] == new[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < n || j < m {
        if i < n && j < m && old[i] == new[j] {
            out.push((' ', old[i].clone()));
            i += 1;
            j += 1;
        } else if j < m && (i == n || lcs[i][j + 1] >= lcs[i + 1][j]) {
            out.push(('+', new[j].clone()));
            j += 1;
        } else {
            out.push(('-', old[i].clone()));
            i += 1;
        }
    }
    out
}

pub fn plan(env: &mut Env, a: &PolicyArgs) -> Result<i32> {
    let facts = env.facts();
    let c = read_config(&a.config, &facts)?;
    let desired = desired_sets(&c, &config_dir(&a.config))?;
    let current = kernel_rules(&mut env.store)?;
    let chains = match env.store.nl.chains(FAMILY, TABLE) {
        Ok(v) => v,
        Err(e) if e.errno() == Some(libc::ENOENT) => Vec::new(),
        Err(e) => return Err(e.into()),
    };
    let mut changes = 0;
    for chain in &c.ruleset.chains {
        let name = chain.kernel_name();
        let want: Vec<String> = chain.rules.iter().map(rule_text).collect();
        let have = current
            .iter()
            .find(|(c, _)| *c == name)
            .map(|(_, r)| r.clone())
            .unwrap_or_default();
        let policy = match chain.policy {
            ChainPolicy::Accept => "accept",
            ChainPolicy::Drop => "drop",
        };
        let kernel_policy = chains
            .iter()
            .find(|k| k.name == name)
            .and_then(|k| k.policy);
        let policy_note = match kernel_policy {
            None => format!("new chain, policy {policy}"),
            Some(p) if p == super::apply::verdict_of(chain.policy) => format!("policy {policy}"),
            Some(_) => {
                changes += 1;
                format!("policy changes to {policy}")
            }
        };
        println!("chain {name} ({policy_note})");
        for (mark, line) in diff_lines(&have, &want) {
            if mark != ' ' {
                changes += 1;
                println!("  {mark} {line}");
            }
        }
    }
    let existing = env.store.sets()?;
    for ds in &desired {
        match existing.iter().find(|d| d.name == ds.def.name) {
            None => {
                changes += 1;
                let (v4, v6) = ds.loaded.range_counts();
                println!(
                    "set {}: created with {v4} IPv4 and {v6} IPv6 ranges",
                    ds.def.name
                );
            }
            Some(_) => {
                let (held, _) = env.store.held_parts(&ds.def.name)?;
                let held = held.contents();
                let add = ds.loaded.difference(&held).range_counts();
                let del = held.difference(&ds.loaded).range_counts();
                if add != (0, 0) || del != (0, 0) {
                    changes += 1;
                    println!(
                        "set {}: {} ranges to add, {} to remove",
                        ds.def.name,
                        add.0 + add.1,
                        del.0 + del.1
                    );
                }
            }
        }
    }
    let managed = env
        .records
        .applied()
        .map(|a| a.policy.managed)
        .unwrap_or_default();
    for name in managed
        .iter()
        .filter(|n| !desired.iter().any(|d| &d.def.name == *n))
    {
        if existing.iter().any(|d| &d.name == name) {
            changes += 1;
            println!("set {name}: removed (no longer in the config)");
        }
    }
    println!("{changes} changes");
    Ok(0)
}

/// The state palisade holds now: the applied policy (if the kernel has it) and every set.
pub fn capture(env: &mut Env) -> Result<SavedState> {
    let has_policy = !kernel_rules(&mut env.store)?.is_empty();
    let policy = if has_policy {
        env.records.applied().map(|a| a.policy)
    } else {
        None
    };
    let mut sets = Vec::new();
    for def in env.store.sets()? {
        let (mut loaded, recent) = env.store.held_parts(&def.name)?;
        let mut recent = recent.into_timed();
        // A dynamic set's timed singles (bans) keep their time left, not a permanent place.
        recent.extend(loaded.take_timed());
        sets.push(SavedSet {
            loaded: loaded.contents(),
            recent,
            def,
        });
    }
    Ok(SavedState { policy, sets })
}

fn report_apply(out: Out, r: &ApplyReport) {
    if out.quiet {
        return;
    }
    println!(
        "applied in one transaction: {} kernel rules, {} sets created, {} recreated, {} removed, {} elements added, {} removed ({:.1} ms commit)",
        r.kernel_rules,
        r.sets_created.len(),
        r.sets_recreated.len(),
        r.sets_removed.len(),
        r.elements_added,
        r.elements_removed,
        r.commit_ms
    );
}

fn record(env: &Env, source: String, policy: SavedPolicy) -> Result<()> {
    env.records.set_applied(&Applied {
        at: now(),
        source,
        policy,
    })
}

/// Save what is applied now to the file boot restores from.
fn save_for_boot(env: &mut Env) -> Result<()> {
    let state = capture(env)?;
    let path = env.saved_file.clone();
    write_atomic(&path, saved::write(&state).as_bytes())
}

pub fn apply_cmd(env: &mut Env, a: &ApplyArgs, out: Out) -> Result<i32> {
    let facts = env.facts();
    let c = read_config(&a.policy.config, &facts)?;
    let sets = desired_sets(&c, &config_dir(&a.policy.config))?;
    {
        let membership = kernel_sets(&mut env.store)?;
        print_lints(&c, &facts, &membership);
    }
    let before = capture(env)?;
    write_atomic(
        &env.records.previous_path(),
        saved::write(&before).as_bytes(),
    )?;
    let previously_managed = env
        .records
        .applied()
        .map(|a| a.policy.managed)
        .unwrap_or_default();
    let policy = SavedPolicy {
        managed: c.ruleset.sets.iter().map(|s| s.name.clone()).collect(),
        ruleset: c.ruleset.clone(),
    };
    let desired = Desired {
        policy: policy.clone(),
        sets,
    };
    let report = apply(&mut env.store, &desired, &previously_managed)?;
    record(env, c.file.clone(), policy)?;
    report_apply(out, &report);
    match a.confirm {
        None => {
            env.records.clear_pending();
            save_for_boot(env)?;
        }
        Some(secs) => {
            let token = u64::from(std::process::id()) << 32 | now() & 0xffff_ffff;
            env.records.set_pending(&Pending {
                token,
                deadline: now() + secs,
            })?;
            spawn_timer(env, token, secs)?;
            println!(
                "run `palisade confirm` within {secs} s, or the previous state comes back by itself"
            );
        }
    }
    Ok(0)
}

/// Start the confirm timer as a process of its own (its own session, so a dropped SSH
/// connection does not take it down).
fn spawn_timer(env: &Env, token: u64, secs: u64) -> Result<()> {
    use std::os::unix::process::CommandExt;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(env.records.timer_log())?;
    let mut cmd = std::process::Command::new(std::env::current_exe()?);
    if let Some(ns) = &env.netns {
        cmd.args(["--netns", ns]);
    }
    cmd.arg("confirm-timer")
        .arg(token.to_string())
        .arg(secs.to_string())
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    // SAFETY: setsid is async-signal-safe and touches no memory of the parent.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    cmd.spawn().context("cannot start the confirm timer")?;
    Ok(())
}

pub fn confirm(env: &mut Env) -> Result<i32> {
    if !env.records.clear_pending() {
        eprintln!("nothing to confirm");
        return Ok(1);
    }
    save_for_boot(env)?;
    println!("confirmed: the applied policy stays, and is what boot restores");
    Ok(0)
}

pub fn confirm_timer(env: &mut Env, token: u64, secs: u64) -> Result<i32> {
    std::thread::sleep(Duration::from_secs(secs));
    match env.records.pending() {
        Some(p) if p.token == token => {
            eprintln!(
                "palisade: apply not confirmed within {secs} s: restoring the previous state"
            );
            let path = env.records.previous_path();
            restore_file(env, &path, "rollback (not confirmed)")?;
            env.records.clear_pending();
            eprintln!("palisade: previous state restored");
            Ok(0)
        }
        _ => Ok(0),
    }
}

pub fn rollback(env: &mut Env, out: Out) -> Result<i32> {
    let previous = env.records.previous_path();
    if !previous.exists() {
        bail!("no previous state to go back to (nothing was applied here yet)");
    }
    let now_state = capture(env)?;
    let text = std::fs::read_to_string(&previous)?;
    let report = restore_text(env, &previous.display().to_string(), &text, "rollback")?;
    write_atomic(&previous, saved::write(&now_state).as_bytes())?;
    env.records.clear_pending();
    save_for_boot(env)?;
    report_apply(out, &report);
    Ok(0)
}

fn restore_text(env: &mut Env, file: &str, text: &str, source: &str) -> Result<ApplyReport> {
    let state = saved::parse(file, text)?;
    let policy = state.policy.unwrap_or(SavedPolicy {
        ruleset: Ruleset {
            chains: Vec::new(),
            sets: Vec::new(),
            meters: Vec::new(),
        },
        managed: Vec::new(),
    });
    let desired = Desired {
        policy: policy.clone(),
        sets: state
            .sets
            .into_iter()
            .map(|s| DesiredSet {
                def: s.def,
                loaded: s.loaded,
                recent: Some(s.recent),
            })
            .collect(),
    };
    let previously_managed = env
        .records
        .applied()
        .map(|a| a.policy.managed)
        .unwrap_or_default();
    let report = apply(&mut env.store, &desired, &previously_managed)?;
    record(env, source.to_string(), policy)?;
    Ok(report)
}

fn restore_file(env: &mut Env, path: &Path, source: &str) -> Result<ApplyReport> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {file}"))?;
    restore_text(env, &file, &text, source)
}

pub fn save(env: &mut Env, file: Option<PathBuf>, out: Out) -> Result<i32> {
    let path = file.unwrap_or_else(|| env.saved_file.clone());
    let state = capture(env)?;
    write_atomic(&path, saved::write(&state).as_bytes())?;
    if !out.quiet {
        let elements: usize = state
            .sets
            .iter()
            .map(|s| {
                let (a, b) = s.loaded.range_counts();
                a + b + s.recent.len()
            })
            .sum();
        println!(
            "saved {} to {}: policy {}, {} sets, {elements} ranges",
            if state.policy.is_some() {
                "the applied state"
            } else {
                "the sets"
            },
            path.display(),
            if state.policy.is_some() {
                "included"
            } else {
                "none applied"
            },
            state.sets.len()
        );
    }
    Ok(0)
}

/// Restore a saved state; if it cannot be, put up the safe policy and fail loudly.
pub fn restore(env: &mut Env, file: Option<PathBuf>, out: Out) -> Result<i32> {
    let path = file.unwrap_or_else(|| env.saved_file.clone());
    match restore_file(env, &path, &format!("restore {}", path.display())) {
        Ok(report) => {
            report_apply(out, &report);
            Ok(0)
        }
        Err(e) => {
            eprintln!("palisade: CANNOT RESTORE {}: {e:#}", path.display());
            let ports = facts::ssh_ports(env.netns_path().as_deref());
            let ruleset = compile(&safe_policy(&ports), &Default::default());
            let desired = Desired {
                policy: SavedPolicy {
                    ruleset: ruleset.clone(),
                    managed: Vec::new(),
                },
                sets: Vec::new(),
            };
            apply(&mut env.store, &desired, &[]).context("even the safe policy failed")?;
            record(env, "safe policy (restore failed)".into(), desired.policy)?;
            eprintln!(
                "palisade: SAFE POLICY UP instead: input dropped except established, loopback, ICMP essentials and SSH (port {}). Fix the saved state and run `palisade restore` or `palisade apply`.",
                ports.iter().map(u16::to_string).collect::<Vec<_>>().join(", ")
            );
            Ok(1)
        }
    }
}

pub fn status(env: &mut Env, a: &StatusArgs) -> Result<i32> {
    let applied = env.records.applied();
    let rules = match env.store.nl.rules(FAMILY, TABLE) {
        Ok(r) => r,
        Err(e) if e.errno() == Some(libc::ENOENT) => Vec::new(),
        Err(e) => return Err(e.into()),
    };
    let mut chains_json = Vec::new();
    let ruleset = applied.as_ref().map(|a| a.policy.ruleset.clone());
    if let Some(rs) = &ruleset {
        for chain in &rs.chains {
            let name = chain.kernel_name();
            let mut counters = vec![(0u64, 0u64); chain.rules.len()];
            for r in rules.iter().filter(|r| r.chain == name) {
                if let (Some(i), Some((p, b))) =
                    (r.comment.as_deref().and_then(index_of), r.counter)
                {
                    if let Some(c) = counters.get_mut(i) {
                        c.0 += p;
                        c.1 += b;
                    }
                }
            }
            chains_json.push(serde_json::json!({
                "chain": name,
                "policy": match chain.policy { ChainPolicy::Accept => "accept", ChainPolicy::Drop => "drop" },
                "rules": chain.rules.iter().zip(&counters).enumerate().map(|(i, (r, (p, b)))| serde_json::json!({
                    "index": i, "rule": r.to_string(), "origin": r.origin, "packets": p, "bytes": b,
                })).collect::<Vec<_>>(),
            }));
        }
    }
    let block_counters = env.store.block_counters()?;
    let mut sets_json = Vec::new();
    for def in env.store.sets()? {
        let (v4, v6) = env.store.kernel_counts(&def.name)?;
        let (p, b) = block_counters.get(&def.name).copied().unwrap_or_default();
        sets_json.push(serde_json::json!({
            "name": def.name,
            "block": def.block,
            "kernel_elements_v4": v4,
            "kernel_elements_v6": v6,
            "blocked_packets": p,
            "blocked_bytes": b,
        }));
    }
    let pending = env.records.pending();
    if a.json {
        let v = serde_json::json!({
            "applied": applied.as_ref().map(|a| serde_json::json!({"at": a.at, "source": a.source})),
            "pending_confirmation": pending.as_ref().map(|p| serde_json::json!({"rollback_at": p.deadline})),
            "chains": chains_json,
            "sets": sets_json,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(0);
    }
    match &applied {
        Some(a) => println!(
            "policy: applied {} s ago from {}",
            now().saturating_sub(a.at),
            a.source
        ),
        None => println!("policy: none applied by palisade here"),
    }
    if let Some(p) = &pending {
        println!(
            "PENDING: rolls back in {} s unless `palisade confirm`",
            p.deadline.saturating_sub(now())
        );
    }
    for c in &chains_json {
        println!(
            "chain {} (policy {})",
            c["chain"].as_str().unwrap_or(""),
            c["policy"].as_str().unwrap_or("")
        );
        println!("  {:>10} {:>12}  rule", "packets", "bytes");
        for r in c["rules"].as_array().into_iter().flatten() {
            println!(
                "  {:>10} {:>12}  {}",
                r["packets"].as_u64().unwrap_or(0),
                r["bytes"].as_u64().unwrap_or(0),
                r["rule"].as_str().unwrap_or("")
            );
        }
    }
    if !sets_json.is_empty() {
        println!("sets:");
        for s in &sets_json {
            println!(
                "  {:<20} block {:<7} kernel elements v4 {} v6 {}, blocked {} packets",
                s["name"].as_str().unwrap_or(""),
                s["block"].as_str().unwrap_or("none"),
                s["kernel_elements_v4"],
                s["kernel_elements_v6"],
                s["blocked_packets"]
            );
        }
    }
    Ok(0)
}

fn parse_state(s: &str) -> Result<u32> {
    CtStates::parse_one(s).with_context(|| {
        format!("--state `{s}`: expected new, established, related, invalid or untracked")
    })
}

pub fn explain_cmd(env: &mut Env, a: &ExplainArgs) -> Result<i32> {
    let ruleset = match &a.config {
        Some(path) => read_config(path, &env.facts())?.ruleset,
        None => env
            .records
            .applied()
            .map(|a| a.policy.ruleset)
            .context("no policy applied here: give the config to explain with -c FILE")?,
    };
    let l4 = match a.proto.as_str() {
        "tcp" => Some(L4::Tcp),
        "udp" => Some(L4::Udp),
        "icmp" => Some(L4::Icmp),
        "icmpv6" => Some(L4::Icmpv6),
        other => bail!("--proto `{other}`: expected tcp, udp, icmp or icmpv6"),
    };
    let direction = match a.direction.as_str() {
        "input" | "in" => Direction::Input,
        "output" | "out" => Direction::Output,
        "forward" => Direction::Forward,
        other => bail!("--direction `{other}`: expected input, output or forward"),
    };
    if a.from.is_ipv4() != a.to.is_ipv4() {
        bail!("--from and --to must be of one family");
    }
    let packet = Packet {
        direction,
        l4,
        src: a.from,
        dst: a.to,
        sport: matches!(l4, Some(L4::Tcp) | Some(L4::Udp)).then_some(a.sport.unwrap_or(40000)),
        dport: a.dport,
        icmp_type: a.icmp_type.or(match l4 {
            Some(L4::Icmp) => Some(8),
            Some(L4::Icmpv6) => Some(128),
            _ => None,
        }),
        ct_state: parse_state(&a.state)?,
        iif: a
            .iif
            .clone()
            .or_else(|| (direction != Direction::Output).then(|| "eth0".into())),
        oif: a
            .oif
            .clone()
            .or_else(|| (direction != Direction::Input).then(|| "eth0".into())),
    };
    let defs = env.store.sets()?;
    let blocks: Vec<BlockSet> = defs
        .iter()
        .filter_map(|d| {
            d.block.map(|b| BlockSet {
                name: d.name.clone(),
                reject: b == BlockAction::Reject,
                with_ports: d.with_ports,
            })
        })
        .collect();
    let sets = kernel_sets(&mut env.store)?;
    let d = explain(&ruleset, &blocks, &packet, &sets);
    if a.json {
        println!("{}", serde_json::to_string_pretty(&d)?);
    } else {
        print_decision(&d);
    }
    Ok(match d.verdict {
        palisade_core::policy::Verdict::Accept => 0,
        _ => 1,
    })
}

fn print_decision(d: &Decision) {
    use palisade_core::policy::DecidedBy;
    let verdict = format!("{:?}", d.verdict).to_uppercase();
    match &d.by {
        DecidedBy::BlockSet { set } => println!(
            "{verdict}: the source is in set `{set}`, matched in chain block_input before any policy rule"
        ),
        DecidedBy::Rule { index, text, origin } => println!(
            "{verdict}: chain filter_{} rule {index}: `{text}`\n  from: {origin}",
            d.chain.name()
        ),
        DecidedBy::Policy => println!(
            "{verdict}: no rule of chain filter_{} matches; its policy decides",
            d.chain.name()
        ),
    }
    for a in &d.also {
        println!("  also {a}");
    }
    let _ = std::io::stdout().flush();
}
