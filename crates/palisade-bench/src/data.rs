//! Deterministic benchmark data and the three file formats the tools read.
//!
//! Every tool must be handed exactly the same content, and palisade must not be able to make its
//! job smaller by merging entries. So entries are chosen non-overlapping and non-adjacent: each
//! address is an even number (2k), each network an even /24 index. Two even numbers are never
//! consecutive, so no two entries touch and an interval set keeps one interval per entry.

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

/// Fixed seed: the same run always generates the same data, so results are comparable.
pub const SEED: u64 = 0x7061_6c69_7361_6465; // "palisade"

/// The network the single add/remove measurement inserts and deletes (TEST-NET-3).
///
/// Its /24 index is odd, so it is never a data entry; its even neighbours 203.0.112.0/24 and
/// 203.0.114.0/24 are kept out of the data too (see [`reserved`]), otherwise adding the probe
/// would be adjacent to an existing interval and an interval set might merge it.
pub const PROBE: &str = "203.0.113.0/24";

/// Elements per `add element` line in the nft script: nft handles many moderate lines better
/// than one line holding a million elements, and all lines still form one transaction.
const NFT_CHUNK: usize = 10_000;

/// splitmix64: tiny, fast and good enough to scatter benchmark entries; no `rand` dependency.
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi` (multiply-shift; the bias is far below anything measurable here).
    pub fn range(&mut self, lo: u32, hi: u32) -> u32 {
        let span = u64::from(hi - lo) + 1;
        lo + (((self.next_u64() >> 32) * span) >> 32) as u32
    }
}

/// What a data set holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Single IPv4 addresses (host order u32).
    Addr,
    /// IPv4 /24 networks (host order u32 of the network address).
    Net24,
}

impl Kind {
    pub fn noun(self) -> &'static str {
        match self {
            Kind::Addr => "addresses",
            Kind::Net24 => "networks (/24)",
        }
    }
}

/// True for addresses no data entry may touch: 0/8, 127/8, 224/3 (also excluded by the range
/// drawn from) and 203.0.112.0/22, the neighbourhood of [`PROBE`].
fn reserved(addr: u32) -> bool {
    let first = addr >> 24;
    first == 0 || first == 127 || first >= 224 || (addr & 0xffff_fc00) == 0xcb00_7000
}

/// `n` distinct entries of `kind`, in the order drawn (random order, as a merged feed would be).
pub fn generate(rng: &mut SplitMix64, kind: Kind, n: usize) -> Vec<u32> {
    // Draw k and use 2k: for addresses 2k in 1.0.0.0..=223.255.255.254, for networks the /24
    // index 2k in 1.0.0..=223.255.254.
    let (lo, hi, shift) = match kind {
        Kind::Addr => (0x0100_0000 / 2, 0xdfff_fffe / 2, 0),
        Kind::Net24 => (0x01_0000 / 2, 0xdf_fffe / 2, 8),
    };
    let mut seen = HashSet::with_capacity(n);
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let addr = (rng.range(lo, hi) * 2) << shift;
        if !reserved(addr) && seen.insert(addr) {
            out.push(addr);
        }
    }
    out
}

fn entry(kind: Kind, v: u32) -> String {
    match kind {
        Kind::Addr => Ipv4Addr::from(v).to_string(),
        Kind::Net24 => format!("{}/24", Ipv4Addr::from(v)),
    }
}

/// The files of one data set, each with the same entries.
#[derive(Clone, Debug)]
pub struct Files {
    /// One entry a line, for `palisade set load --format plain`.
    pub plain: PathBuf,
    /// An nft script creating `table inet bench` with interval set `s` and all entries.
    pub nft: PathBuf,
    /// For addresses, the same script with a plain hash set (no `flags interval`): the kind
    /// an nft user would pick for single addresses, and the kind palisade itself uses for them.
    pub nft_hash: Option<PathBuf>,
    /// An `ipset restore` file creating set `s` (hash:ip or hash:net) and adding all entries.
    pub ipset: PathBuf,
}

/// Write `entries` as `dir/stem.txt`, `.nft`, `.ipset` and, for addresses, `.hash.nft`.
pub fn write_files(dir: &Path, stem: &str, kind: Kind, entries: &[u32]) -> io::Result<Files> {
    let files = Files {
        plain: dir.join(format!("{stem}.txt")),
        nft: dir.join(format!("{stem}.nft")),
        nft_hash: (kind == Kind::Addr).then(|| dir.join(format!("{stem}.hash.nft"))),
        ipset: dir.join(format!("{stem}.ipset")),
    };
    let text: Vec<String> = entries.iter().map(|&v| entry(kind, v)).collect();

    let mut w = BufWriter::new(File::create(&files.plain)?);
    for e in &text {
        writeln!(w, "{e}")?;
    }
    w.into_inner()?.sync_all()?;

    write_nft(&files.nft, &text, true)?;
    if let Some(path) = &files.nft_hash {
        write_nft(path, &text, false)?;
    }

    let ty = match kind {
        Kind::Addr => "hash:ip",
        Kind::Net24 => "hash:net",
    };
    let mut w = BufWriter::new(File::create(&files.ipset)?);
    writeln!(
        w,
        "create s {ty} family inet hashsize 1048576 maxelem 2000000"
    )?;
    for e in &text {
        writeln!(w, "add s {e}")?;
    }
    w.into_inner()?.sync_all()?;
    Ok(files)
}

/// An nft script: `table inet bench` with set `s` (an interval set, like palisade's sets for
/// networks, or a hash set) and the entries in `add element` lines, all one transaction.
fn write_nft(path: &Path, entries: &[String], interval: bool) -> io::Result<()> {
    let mut w = BufWriter::new(File::create(path)?);
    let flags = if interval { "\n\t\tflags interval" } else { "" };
    writeln!(
        w,
        "table inet bench {{\n\tset s {{\n\t\ttype ipv4_addr{flags}\n\t}}\n}}"
    )?;
    for chunk in entries.chunks(NFT_CHUNK) {
        writeln!(w, "add element inet bench s {{ {} }}", chunk.join(", "))?;
    }
    w.into_inner()?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_distinct_even_and_never_touch_each_other_or_the_probe() {
        let mut rng = SplitMix64::new(SEED);
        for (kind, step) in [(Kind::Addr, 1u32), (Kind::Net24, 256)] {
            let mut v = generate(&mut rng, kind, 50_000);
            v.sort_unstable();
            for w in v.windows(2) {
                // Next entry starts beyond the one after this entry's end: not adjacent.
                assert!(w[1] > w[0] + step, "{kind:?} {:#x} {:#x}", w[0], w[1]);
            }
            for &a in &v {
                assert!(!reserved(a));
                assert_eq!((a / step) % 2, 0);
            }
        }
    }

    #[test]
    fn generation_is_deterministic() {
        let a = generate(&mut SplitMix64::new(SEED), Kind::Addr, 1000);
        let b = generate(&mut SplitMix64::new(SEED), Kind::Addr, 1000);
        assert_eq!(a, b);
    }
}
