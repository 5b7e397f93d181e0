//! Which ruleset generations palisade itself committed, so a set cache can be trusted only
//! when nothing else changed the ruleset since it was written.
//!
//! Every transaction bumps the kernel's ruleset generation by one. palisade guards each of
//! its transactions with the generation it read, so when one commits, the ruleset is at
//! exactly the next generation, and that number is appended here. A cache written at
//! generation G is current at generation H only if every generation in G+1..=H is in this
//! journal (each of them a palisade write, and palisade flushes a set's stamp whenever it
//! writes that set's loaded parts). Any other writer (`nft`, another tool) leaves a gap, and
//! the next load reads the kernel instead. An entry written late only costs a needless read.
//!
//! Generations restart with each boot and each namespace, so the journal (and each cache) is
//! tied to the boot and to the namespace's cookie; a mismatch starts a new journal.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

/// What ties generation numbers to one run of one namespace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    pub boot_id: String,
    pub netns_cookie: u64,
}

impl Origin {
    /// This boot and the namespace with `netns_cookie`; `None` if the boot id is unknown.
    pub fn current(netns_cookie: u64) -> Option<Self> {
        let boot_id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
        Some(Origin {
            boot_id: boot_id.trim().to_string(),
            netns_cookie,
        })
    }

    fn header(&self) -> String {
        format!(
            "palisade-journal 1 boot={} netns={}\n",
            self.boot_id, self.netns_cookie
        )
    }
}

/// Beyond this size the journal starts anew (the old one is kept once): a cache older than
/// both is read from the kernel, which is only slower.
const ROTATE_BYTES: u64 = 256 * 1024;

pub struct Journal {
    path: PathBuf,
    origin: Origin,
}

impl Journal {
    pub fn new(dir: &Path, origin: Origin) -> Self {
        Self {
            path: dir.join("journal"),
            origin,
        }
    }

    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    fn old_path(&self) -> PathBuf {
        self.path.with_extension("old")
    }

    /// Note that palisade's transaction left the ruleset at `generation`. Best effort: a
    /// journal that cannot be written only makes the next load read the kernel.
    pub fn record(&self, generation: u32) {
        let _ = self.append(generation);
    }

    fn append(&self, generation: u32) -> std::io::Result<()> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let header = self.origin.header();
        let current = starts_with(&self.path, header.as_bytes());
        let size = std::fs::metadata(&self.path).map_or(0, |m| m.len());
        if current && size > ROTATE_BYTES {
            std::fs::rename(&self.path, self.old_path())?;
        }
        if !current || size > ROTATE_BYTES {
            crate::state::write_atomic(&self.path, header.as_bytes())?;
        }
        let mut f = std::fs::OpenOptions::new().append(true).open(&self.path)?;
        // One short write in append mode: lines of concurrent writers never interleave.
        f.write_all(format!("{generation}\n").as_bytes())
    }

    /// The generations palisade committed, as far as the journal (of this origin) knows.
    fn generations(&self) -> BTreeSet<u32> {
        let header = self.origin.header();
        let mut out = BTreeSet::new();
        for p in [self.old_path(), self.path.clone()] {
            let Ok(text) = std::fs::read_to_string(&p) else {
                continue;
            };
            let Some(body) = text.strip_prefix(&header) else {
                continue;
            };
            out.extend(body.lines().filter_map(|l| l.parse::<u32>().ok()));
        }
        out
    }

    /// Whether every change from generation `since` to `now` was palisade's own.
    pub fn only_ours(&self, since: u32, now: u32) -> bool {
        if now < since {
            return false;
        }
        if now == since {
            return true;
        }
        let ours = self.generations();
        (since + 1..=now).all(|g| ours.contains(&g))
    }
}

/// Whether the file at `path` starts with `prefix` (reading no more than that).
fn starts_with(path: &Path, prefix: &[u8]) -> bool {
    use std::io::Read;
    let mut head = vec![0u8; prefix.len()];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok_and(|()| head == prefix)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(cookie: u64) -> Origin {
        Origin {
            boot_id: "b1".into(),
            netns_cookie: cookie,
        }
    }

    #[test]
    fn a_gap_or_another_namespace_is_not_ours() {
        let dir = std::env::temp_dir().join(format!("palisade-journal-{}", std::process::id()));
        let j = Journal::new(&dir, origin(7));
        for g in [11, 12, 14] {
            j.record(g);
        }
        assert!(j.only_ours(10, 12));
        assert!(j.only_ours(12, 12));
        assert!(!j.only_ours(12, 14), "13 was someone else's");
        assert!(!j.only_ours(14, 13), "generations never go back in one run");
        let other = Journal::new(&dir, origin(8));
        assert!(
            !other.only_ours(10, 12),
            "another namespace's journal is not this one's"
        );
        other.record(3);
        assert!(
            !j.only_ours(10, 12),
            "a new namespace started its own journal"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
