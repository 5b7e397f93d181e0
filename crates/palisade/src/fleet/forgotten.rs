//! Origins `palisade fleet forget` dropped, and when: kept on disk so that their bans stay
//! out after the daemon restarts. (The ban stream keeps every ban until it expires, and the
//! catch-up at start would otherwise put a forgotten origin's bans back.)
//!
//! Only bans the origin issued up to the forget are kept out: a peer that is still trusted
//! may ban again, and its new bans count. Issue times are the origin's clock, which signed
//! them; to stop trusting a host, it leaves `[fleet.peers]`.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, Result};

/// Origin to the unix second it was forgotten at.
pub type Forgotten = HashMap<String, u64>;

/// The forgotten origins recorded at `path` (none if the file does not exist).
pub fn read(path: &Path) -> Result<Forgotten> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).with_context(|| {
            format!(
                "{} is damaged; remove it and run `palisade fleet forget HOST` again for each \
                 host to keep forgotten",
                path.display()
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Forgotten::new()),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Record that `origin` was forgotten at `now` (a later forget replaces an earlier one).
pub fn record(path: &Path, origin: &str, now: u64) -> Result<()> {
    let mut all = read(path)?;
    all.insert(origin.to_string(), now);
    let json = serde_json::to_vec_pretty(&all).expect("a map of strings to numbers serializes");
    crate::state::write_atomic(path, &json)
        .with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str) -> std::path::PathBuf {
        let dir =
            std::env::temp_dir().join(format!("palisade-forgotten-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir.join("forgotten.json")
    }

    #[test]
    fn a_forget_is_recorded_and_a_later_one_replaces_it() {
        let path = file("record");
        assert!(read(&path).unwrap().is_empty());
        record(&path, "web2", 100).unwrap();
        record(&path, "web3", 150).unwrap();
        record(&path, "web2", 200).unwrap();
        let all = read(&path).unwrap();
        assert_eq!((all["web2"], all["web3"], all.len()), (200, 150, 2));
    }

    #[test]
    fn a_damaged_record_says_what_to_do() {
        let path = file("damaged");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, b"{not json").unwrap();
        let e = format!("{:#}", read(&path).unwrap_err());
        assert!(e.contains("damaged") && e.contains("fleet forget"), "{e}");
    }
}
