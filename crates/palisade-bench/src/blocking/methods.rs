//! The ways of blocking N addresses that the experiment compares, each loaded into its lab's
//! server namespace on the INPUT hook, the path every request packet takes.
//!
//! `iptables` and `ipset` are the reference tools, run here only as baselines; palisade itself
//! never runs them. Every method goes from one N to the next by replacing its whole state, the
//! way an admin reloads a list: `iptables-restore` of a complete ruleset, an ipset built aside
//! and swapped in, `palisade set load` of the complete list.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::lab::Lab;
use crate::measure::{run, setup};
use crate::Palisade;

/// Loading 50,000 rules or a million set elements is slow for some tools; a hung tool must
/// still not hang the benchmark.
const LOAD_TIMEOUT: Duration = Duration::from_secs(20 * 60);
const OP_TIMEOUT: Duration = Duration::from_secs(60);

/// The name of the ipset, and of the palisade set.
const SET: &str = "blocked";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    /// No firewall at all: the baseline.
    None,
    /// One `-s ADDR -j DROP` rule per address, nftables backend (Debian's default `iptables`).
    IptablesNft,
    /// The same rules with the legacy x_tables backend.
    IptablesLegacy,
    /// One iptables (nft backend) rule, `-m set --match-set blocked src -j DROP`, on a
    /// `hash:ip` ipset.
    Ipset,
    /// A palisade set created with `--block drop` and filled with `palisade set load`.
    Palisade,
}

impl Method {
    pub const ALL: [Method; 5] = [
        Method::None,
        Method::IptablesNft,
        Method::IptablesLegacy,
        Method::Ipset,
        Method::Palisade,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Method::None => "none",
            Method::IptablesNft => "iptables-nft",
            Method::IptablesLegacy => "iptables-legacy",
            Method::Ipset => "ipset",
            Method::Palisade => "palisade",
        }
    }

    /// One rule per address: only measured up to the plan's limit for linear rules.
    pub fn linear(self) -> bool {
        matches!(self, Method::IptablesNft | Method::IptablesLegacy)
    }

    /// What the method loads, for the report.
    pub fn describe(self) -> &'static str {
        match self {
            Method::None => "no firewall rules at all (the baseline)",
            Method::IptablesNft => {
                "`iptables-nft-restore` of N rules `-A INPUT -s ADDR/32 -j DROP` (Debian's default `iptables`)"
            }
            Method::IptablesLegacy => {
                "`iptables-legacy-restore` of the same N rules (the x_tables backend)"
            }
            Method::Ipset => {
                "one rule `-A INPUT -m set --match-set blocked src -j DROP` (iptables-nft) on a \
                 `hash:ip` ipset; each N is built aside with `ipset restore` and swapped in"
            }
            Method::Palisade => {
                "`palisade set create blocked --block drop`, then `palisade set load blocked \
                 LIST` for each N"
            }
        }
    }

    /// Why this method cannot run on this machine, if it cannot: a missing tool, or a kernel
    /// without the legacy x_tables. Checked in a throw-away namespace.
    pub fn unavailable(self, pal: &Palisade) -> Option<String> {
        let probe = |program: &str, args: &[&str]| -> Option<String> {
            let ns = match palisade_lab::Netns::create("probe") {
                Ok(ns) => ns,
                Err(e) => return Some(e.to_string()),
            };
            ns.output(program, args)
                .err()
                .map(|e| format!("`{program}` does not work here: {e}"))
        };
        match self {
            Method::None => None,
            Method::IptablesNft => probe("iptables-nft", &["-L", "INPUT", "-n"]),
            Method::IptablesLegacy => probe("iptables-legacy", &["-L", "INPUT", "-n"]),
            Method::Ipset => {
                probe("ipset", &["list"]).or_else(|| probe("iptables-nft", &["-L", "INPUT", "-n"]))
            }
            Method::Palisade => (!Path::new(&pal.bin).is_file())
                .then(|| format!("no palisade binary at {}", pal.bin)),
        }
    }

    /// One-time setup in a new lab: the ipset and its rule, palisade's set.
    pub fn prepare(self, lab: &Lab, pal: &Palisade) -> Result<(), String> {
        let srv = &lab.server;
        match self {
            Method::Ipset => {
                let create = [
                    "create", SET, "hash:ip", "family", "inet", "hashsize", "1048576", "maxelem",
                    "2000000",
                ];
                setup(srv.command("ipset").args(create), OP_TIMEOUT).map_err(|e| e.to_string())?;
                let rule = ["-A", "INPUT", "-m", "set", "--match-set", SET, "src"];
                setup(
                    srv.command("iptables-nft").args(rule).args(["-j", "DROP"]),
                    OP_TIMEOUT,
                )
                .map_err(|e| e.to_string())?;
            }
            Method::Palisade => {
                setup(
                    &pal.cmd(srv, &["set", "create", SET, "--block", "drop"]),
                    OP_TIMEOUT,
                )
                .map_err(|e| e.to_string())?;
            }
            Method::None | Method::IptablesNft | Method::IptablesLegacy => {}
        }
        Ok(())
    }

    /// Put the method in the state for `files.n` blocked addresses; returns the wall time of the
    /// loading command in ms (shown in the report; not what this experiment is about).
    pub fn apply(self, lab: &Lab, files: &StepFiles, pal: &Palisade) -> Result<f64, String> {
        let srv = &lab.server;
        let path = |p: &Option<PathBuf>| -> Result<String, String> {
            p.as_ref()
                .map(|p| p.to_string_lossy().into_owned())
                .ok_or_else(|| format!("no rules file for {} rules", files.n))
        };
        let cmd: Command = match self {
            Method::None => return Ok(0.0),
            Method::IptablesNft => {
                let mut c = srv.command("iptables-nft-restore");
                c.arg(path(&files.iptables)?);
                c
            }
            Method::IptablesLegacy => {
                let mut c = srv.command("iptables-legacy-restore");
                c.arg(path(&files.iptables)?);
                c
            }
            Method::Ipset => {
                let mut c = srv.command("ipset");
                c.args(["restore", "-f", &files.ipset.to_string_lossy()]);
                c
            }
            Method::Palisade => pal.cmd(
                srv,
                &[
                    "set",
                    "load",
                    SET,
                    &files.plain.to_string_lossy(),
                    "--format",
                    "plain",
                ],
            ),
        };
        run(&cmd, LOAD_TIMEOUT)
            .map(|r| r.wall_ms())
            .map_err(|e| e.to_string())
    }

    /// How many addresses the kernel holds for this method now, asked independently of the
    /// loading command's own report (for palisade, the count the kernel reports for its sets).
    pub fn count(self, lab: &Lab, pal: &Palisade) -> Result<usize, String> {
        let srv = &lab.server;
        let out = |c: &Command| setup(c, LOAD_TIMEOUT).map_err(|e| e.to_string());
        match self {
            Method::None => Ok(0),
            Method::IptablesNft | Method::IptablesLegacy => {
                let save = if self == Method::IptablesNft {
                    "iptables-nft-save"
                } else {
                    "iptables-legacy-save"
                };
                let listed = out(srv.command(save).args(["-t", "filter"]))?;
                Ok(listed
                    .lines()
                    .filter(|l| l.starts_with("-A INPUT -s ") && l.ends_with("-j DROP"))
                    .count())
            }
            Method::Ipset => {
                let listed = out(srv.command("ipset").args(["list", SET, "-t"]))?;
                listed
                    .lines()
                    .find_map(|l| l.strip_prefix("Number of entries:"))
                    .and_then(|v| v.trim().parse().ok())
                    .ok_or_else(|| format!("no entry count in `ipset list`: {listed:.200}"))
            }
            Method::Palisade => {
                let listed = out(&pal.cmd(srv, &["set", "list", SET, "--json"]))?;
                let v: serde_json::Value = serde_json::from_str(listed.trim())
                    .map_err(|e| format!("palisade set list --json: {e}"))?;
                v.get(0)
                    .and_then(|s| s.get("kernel_elements_v4"))
                    .and_then(serde_json::Value::as_u64)
                    .map(|n| n as usize)
                    .ok_or_else(|| format!("no kernel_elements_v4 in {listed:.200}"))
            }
        }
    }
}

/// The files that bring every method to N blocked addresses.
pub struct StepFiles {
    pub n: usize,
    /// One address a line, for palisade.
    pub plain: PathBuf,
    /// A complete `iptables-restore` ruleset for the filter table, when N is within the
    /// linear methods' range.
    pub iptables: Option<PathBuf>,
    /// An `ipset restore` script: build `blocked-next`, swap it with `blocked`, destroy the old.
    pub ipset: PathBuf,
}

/// Write the files for the first `n` of `addrs`; iptables rules only when `with_rules`.
pub fn write_step_files(
    dir: &Path,
    addrs: &[u32],
    n: usize,
    with_rules: bool,
) -> io::Result<StepFiles> {
    let list = &addrs[..n];
    let files = StepFiles {
        n,
        plain: dir.join(format!("blocked-{n}.txt")),
        iptables: with_rules.then(|| dir.join(format!("iptables-{n}.rules"))),
        ipset: dir.join(format!("ipset-{n}.restore")),
    };
    let write = |path: &Path, head: &str, line: &dyn Fn(Ipv4Addr) -> String, tail: &str| {
        let mut w = BufWriter::new(File::create(path)?);
        w.write_all(head.as_bytes())?;
        for &a in list {
            w.write_all(line(Ipv4Addr::from(a)).as_bytes())?;
        }
        w.write_all(tail.as_bytes())?;
        w.flush()
    };
    write(&files.plain, "", &|a| format!("{a}\n"), "")?;
    if let Some(rules) = &files.iptables {
        write(
            rules,
            "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n",
            &|a| format!("-A INPUT -s {a}/32 -j DROP\n"),
            "COMMIT\n",
        )?;
    }
    let next = format!("{SET}-next");
    write(
        &files.ipset,
        &format!("create {next} hash:ip family inet hashsize 1048576 maxelem 2000000\n"),
        &|a| format!("add {next} {a}\n"),
        &format!("swap {next} {SET}\ndestroy {next}\n"),
    )?;
    Ok(files)
}
