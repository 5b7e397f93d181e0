//! Facts about the host that `check` and `apply` need: the admin's SSH session, the ports
//! sshd listens on, and whether Docker or libvirt forward traffic here.

use std::collections::BTreeSet;
use std::path::Path;

use crate::store::Store;
use palisade_core::policy::compile::{DOCKER_BRIDGES, LIBVIRT_BRIDGES};
use palisade_core::policy::{Context, HostFacts, Session};

/// The SSH session this command runs in.
pub fn session() -> Option<Session> {
    Session::from_ssh_connection(&std::env::var("SSH_CONNECTION").ok()?)
}

/// Socket inodes of processes named sshd.
fn sshd_socket_inodes() -> BTreeSet<u64> {
    let mut out = BTreeSet::new();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return out;
    };
    for p in procs.flatten() {
        let comm = std::fs::read_to_string(p.path().join("comm")).unwrap_or_default();
        if comm.trim() != "sshd" {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(p.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if let Ok(target) = std::fs::read_link(fd.path()) {
                let t = target.to_string_lossy();
                if let Some(inode) = t.strip_prefix("socket:[").and_then(|r| r.strip_suffix(']')) {
                    if let Ok(i) = inode.parse() {
                        out.insert(i);
                    }
                }
            }
        }
    }
    out
}

/// Listening TCP ports (state 0A) of these socket inodes, from `/proc/net/tcp{,6}` text.
fn listening_ports(table: &str, inodes: &BTreeSet<u64>) -> Vec<u16> {
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let (local, state, inode) = (f.get(1)?, f.get(3)?, f.get(9)?.parse::<u64>().ok()?);
            if *state != "0A" || !inodes.contains(&inode) {
                return None;
            }
            u16::from_str_radix(local.rsplit(':').next()?, 16).ok()
        })
        .collect()
}

/// The kernel's TCP socket tables of a network namespace (the current one without `netns`),
/// read from a thread that enters it: `/proc/net` shows the reading thread's namespace.
fn tcp_tables(netns: Option<&Path>) -> Vec<String> {
    let read = || {
        ["/proc/thread-self/net/tcp", "/proc/thread-self/net/tcp6"]
            .map(|t| std::fs::read_to_string(t).unwrap_or_default())
            .to_vec()
    };
    let Some(path) = netns else {
        return read();
    };
    let Ok(ns) = std::fs::File::open(path) else {
        return Vec::new();
    };
    std::thread::scope(|s| {
        s.spawn(|| {
            use std::os::fd::AsRawFd;
            // SAFETY: setns(2) on a namespace file we hold open; it changes only this thread,
            // which ends right after reading.
            if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                return Vec::new();
            }
            read()
        })
        .join()
        .unwrap_or_default()
    })
}

/// Ports sshd listens on in the namespace; failing that, the `Port` lines of its config;
/// failing that, 22: when in doubt, assume the port an admin most likely depends on.
pub fn ssh_ports(netns: Option<&Path>) -> Vec<u16> {
    let inodes = sshd_socket_inodes();
    let mut ports: BTreeSet<u16> = BTreeSet::new();
    for text in tcp_tables(netns) {
        ports.extend(listening_ports(&text, &inodes));
    }
    if ports.is_empty() {
        if let Ok(cfg) = std::fs::read_to_string("/etc/ssh/sshd_config") {
            ports.extend(cfg.lines().filter_map(|l| {
                let mut w = l.split_whitespace();
                (w.next()?.eq_ignore_ascii_case("port"))
                    .then(|| w.next()?.parse::<u16>().ok())
                    .flatten()
            }));
        }
    }
    if ports.is_empty() {
        ports.insert(22);
    }
    ports.into_iter().collect()
}

/// Tables of container and VM managers, by what they are called.
pub fn container_tables(store: &mut Store) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(tables) = store.foreign_tables() else {
        return out;
    };
    for (t, chains) in tables {
        let lower = t.name.to_lowercase();
        if lower.contains("docker") {
            out.push(format!("table {} (Docker)", t.name));
        } else if lower.contains("libvirt") {
            out.push(format!("table {} (libvirt)", t.name));
        } else if chains.iter().any(|c| c.starts_with("DOCKER")) {
            out.push(format!("table {} with DOCKER chains", t.name));
        } else if chains.iter().any(|c| c.starts_with("LIBVIRT")) {
            out.push(format!("table {} with LIBVIRT chains", t.name));
        }
    }
    out
}

pub fn host_facts(store: &mut Store, netns: Option<&Path>) -> HostFacts {
    HostFacts {
        ssh_ports: ssh_ports(netns),
        session: session(),
        container_tables: container_tables(store),
    }
}

/// The compile context: the admin's session is kept, container bridges keep forwarding.
pub fn context(facts: &HostFacts) -> Context {
    let mut bridges = Vec::new();
    if facts
        .container_tables
        .iter()
        .any(|t| t.contains("ocker") || t.contains("DOCKER"))
    {
        bridges.extend(DOCKER_BRIDGES.iter().map(|s| s.to_string()));
    }
    if facts
        .container_tables
        .iter()
        .any(|t| t.contains("ibvirt") || t.contains("LIBVIRT"))
    {
        bridges.extend(LIBVIRT_BRIDGES.iter().map(|s| s.to_string()));
    }
    Context {
        session: facts.session,
        container_bridges: bridges,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listening_sockets_of_sshd() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
   0: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1234 1 0\n\
   1: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 999 1 0\n\
   2: 0100007F:0016 0100007F:A000 01 00000000:00000000 00:00000000 00000000     0        0 1234 1 0\n";
        assert_eq!(listening_ports(table, &[1234].into()), vec![22]);
    }
}
