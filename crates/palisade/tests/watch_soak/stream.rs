//! The soak's hostile log: attack bursts, injection attempts, rotation and truncation.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

/// Failures that make a ban.
pub const MAXRETRY: usize = 3;
/// Distinct attacking addresses per burst.
pub const BURST: usize = 50_000;
/// One injection attempt every this many attack lines.
const INJECT_EVERY: usize = 50;
/// Addresses named in client-controlled text: each appears far more than `MAXRETRY` times.
const BAIT_NAMED: u32 = 300;

const PREFIX: &str = "Mar  5 14:39:21 web sshd[812]: ";

/// The attacking addresses of an address block: 172.(16+slot).x.y, one in ten
/// 2001:db8:a(slot)::x.
pub fn attackers(slot: usize) -> Vec<IpAddr> {
    (0..BURST)
        .map(|i| {
            if i % 10 == 9 {
                IpAddr::V6(Ipv6Addr::new(
                    0x2001,
                    0xdb8,
                    0xa0 + slot as u16,
                    0,
                    0,
                    0,
                    0,
                    i as u16,
                ))
            } else {
                IpAddr::V4(Ipv4Addr::new(
                    172,
                    16 + slot as u8,
                    (i / 256) as u8,
                    (i % 256) as u8,
                ))
            }
        })
        .collect()
}

/// Named only in client text (10.66.0.0/16, 2001:db8:66::/48), or the real source of one
/// injection line, so failing once only (10.80.0.0/12): never to be banned.
pub fn is_bait(a: &IpAddr) -> bool {
    match a {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            o[0] == 10 && (o[1] == 66 || (80..96).contains(&o[1]))
        }
        IpAddr::V6(v6) => v6.segments()[..3] == [0x2001, 0xdb8, 0x66],
    }
}

/// Appends to the followed log, as a daemon writing it would.
pub struct LogWriter {
    path: PathBuf,
    out: BufWriter<File>,
    /// Injection lines written so far: each has a real source of its own.
    injections: u32,
}

impl LogWriter {
    pub fn open(path: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
            out: Self::append(path),
            injections: 0,
        }
    }

    fn append(path: &Path) -> BufWriter<File> {
        let f = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
            .unwrap();
        BufWriter::with_capacity(1 << 20, f)
    }

    /// One failure of each address (the `round`th), with injection attempts among them; the
    /// last line is the last address's, so once it is banned every line was read.
    pub fn round(&mut self, addrs: &[IpAddr], round: usize) {
        for (i, a) in addrs.iter().enumerate() {
            if i % INJECT_EVERY == 0 {
                self.injection();
            }
            let port = 1024 + (i * 7 + round) % 60000;
            let line = match (i + round) % 3 {
                0 => format!("{PREFIX}Failed password for root from {a} port {port} ssh2\n"),
                1 => format!(
                    "{PREFIX}Failed password for invalid user admin from {a} port {port} ssh2\n"
                ),
                _ => format!("{PREFIX}Invalid user test from {a} port {port}\n"),
            };
            self.out.write_all(line.as_bytes()).unwrap();
        }
        self.out.flush().unwrap();
    }

    /// A line whose user name (the client's choice) names a bait address, in the places a
    /// careless pattern would take it from; the real source, sshd's, is at the end.
    fn injection(&mut self) {
        let n = self.injections;
        self.injections += 1;
        let real = Ipv4Addr::new(10, 80 + (n >> 16) as u8, (n >> 8) as u8, n as u8);
        let k = n % BAIT_NAMED;
        let bait4 = Ipv4Addr::new(10, 66, (k >> 8) as u8, k as u8);
        let bait6 = Ipv6Addr::new(0x2001, 0xdb8, 0x66, 0, 0, 0, 0, k as u16);
        let line = match n % 4 {
            0 => format!(
                "Failed password for invalid user x from {bait4} port 22 ssh2 from {real} port 5022 ssh2"
            ),
            1 => format!(
                "Failed password for invalid user x from {bait4} port 22 ssh2: from {bait6} from {real} port 5022 ssh2"
            ),
            2 => format!("Invalid user admin from {bait6} port 22 from {real} port 5022"),
            _ => format!(
                "Connection closed by authenticating user root {bait4} port 22 [preauth] {real} port 5022 [preauth]"
            ),
        };
        writeln!(self.out, "{PREFIX}{line}").unwrap();
    }

    /// `n` failures from `host`, written at once.
    pub fn failures(&mut self, host: &str, n: usize) {
        for _ in 0..n {
            writeln!(
                self.out,
                "{PREFIX}Failed password for root from {host} port 4242 ssh2"
            )
            .unwrap();
        }
        self.out.flush().unwrap();
    }

    /// logrotate's default: the file is renamed and a new one takes its name.
    pub fn rotate(&mut self) {
        self.out.flush().unwrap();
        std::fs::rename(&self.path, self.path.with_extension("log.1")).unwrap();
        self.out = Self::append(&self.path);
    }

    /// logrotate's copytruncate: emptied in place; the writer goes on at the new end.
    pub fn truncate(&mut self) {
        self.out.flush().unwrap();
        self.out.get_ref().set_len(0).unwrap();
    }
}
