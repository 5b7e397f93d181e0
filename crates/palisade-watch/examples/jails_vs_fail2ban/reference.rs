//! `fail2ban-regex`, fail2ban's own tool, run as the reference: the addresses a filter
//! finds in a log file, as fail2ban would.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::Path;
use std::process::Command;

use crate::corpus::address;

/// Distinct addresses `fail2ban-regex` finds in `log` with filter `spec`
/// (`sshd[mode=aggressive]`), host names left out.
pub fn fail2ban_hosts(
    filter_dir: &Path,
    log: &Path,
    spec: &str,
) -> Result<BTreeSet<IpAddr>, String> {
    let config_dir = filter_dir.parent().unwrap_or(Path::new("/etc/fail2ban"));
    let out = Command::new("fail2ban-regex")
        .arg("-c")
        .arg(config_dir)
        .args(["-r", "--no-check-all", "-o", "ip"])
        .arg(log)
        .arg(spec)
        .output()
        .map_err(|e| format!("fail2ban-regex: {e} (apt-get install fail2ban)"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr)
            .lines()
            .last()
            .unwrap_or("")
            .to_string());
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(address)
        .collect())
}
