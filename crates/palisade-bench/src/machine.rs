//! The machine and the tools a benchmark ran with, so numbers are never quoted without what
//! produced them.

use std::process::Command;

/// The machine and tool versions, so numbers are never quoted without what produced them.
pub struct Environment {
    pub cpu: String,
    pub nproc: String,
    pub kernel: String,
    pub ram: String,
    pub nft: String,
    pub ipset: String,
    pub palisade: String,
    /// When the measured palisade binary was built (its modification time).
    pub palisade_built: String,
    /// The source revision measured (`git describe --always --dirty`), if run in the repo.
    pub revision: String,
}

/// The first line a program prints (stdout, else stderr), or `unknown`: a tool's version.
pub fn first_line_of(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .map(|o| {
            let s = if o.stdout.is_empty() {
                o.stderr
            } else {
                o.stdout
            };
            String::from_utf8_lossy(&s)
                .lines()
                .next()
                .unwrap_or("")
                .trim()
                .to_string()
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

impl Environment {
    pub fn collect(palisade: &str) -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .map(|l| l.trim_start_matches([' ', '\t', ':']).trim().to_string())
            .unwrap_or_else(|| "unknown".into());
        let ram = std::fs::read_to_string("/proc/meminfo")
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map(|kib| format!("{:.1} GiB", kib / 1024.0 / 1024.0))
            .unwrap_or_else(|| "unknown".into());
        Self {
            cpu,
            nproc: first_line_of("nproc", &[]),
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map(|s| s.trim().to_string())
                .unwrap_or_else(|_| "unknown".into()),
            ram,
            nft: first_line_of("nft", &["--version"]),
            ipset: first_line_of("ipset", &["--version"]),
            palisade: first_line_of(palisade, &["--version"]),
            palisade_built: first_line_of("date", &["-u", "-r", palisade, "+%Y-%m-%d %H:%M UTC"]),
            revision: first_line_of("git", &["describe", "--always", "--dirty"]),
        }
    }
}
