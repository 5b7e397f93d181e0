//! Which set each counter id belongs to, kept beside the maps as symbolic links (see `pins`).
//!
//! palisade names its sets; the program counts drops per one-byte id. The ids are handed out
//! here, on first use, so every palisade process (a `set add`, the log watcher, `xdp status`)
//! agrees on them for as long as the maps live.

use std::collections::BTreeSet;
use std::io;

use super::{host, Xdp};
use crate::error::{Result, XdpError};
use crate::layout::{SetId, MAX_SETS};
use crate::pins;

impl Xdp {
    /// The counter id of set `name`, given to it on first use (its counter then starts at
    /// zero). Fails with [`XdpError::TooManySets`] when all 256 ids are taken.
    pub fn set_id(&mut self, name: &str) -> Result<SetId> {
        let _lock = self.lock()?;
        let names = self.set_names()?;
        if let Some((id, _)) = names.iter().find(|(_, n)| n == name) {
            return Ok(*id);
        }
        let taken: BTreeSet<u8> = names.iter().map(|(id, _)| id.0).collect();
        for id in (0..MAX_SETS).filter_map(|i| u8::try_from(i).ok()) {
            if taken.contains(&id) {
                continue;
            }
            let link = pins::set_name_pin(&self.dir, id);
            match std::os::unix::fs::symlink(name, &link) {
                Ok(()) => {
                    self.maps.zero_counter(u32::from(id))?;
                    return Ok(SetId(id));
                }
                // Taken by a process that ignored the lock: try the next.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    return Err(XdpError::PinDir {
                        path: link,
                        problem: format!("cannot name counter id {id}: {e}"),
                    })
                }
            }
        }
        Err(XdpError::TooManySets { set: name.into() })
    }

    /// The counter id of set `name`, if it has one.
    pub fn find_set(&self, name: &str) -> Result<Option<SetId>> {
        Ok(self
            .set_names()?
            .into_iter()
            .find_map(|(id, n)| (n == name).then_some(id)))
    }

    /// Every set that has a counter id, by id.
    pub fn set_names(&self) -> Result<Vec<(SetId, String)>> {
        let mut out = Vec::new();
        for file in host::list_dir(&self.dir)? {
            let Some(id) = pins::set_id_of_pin(&file) else {
                continue;
            };
            let link = pins::set_name_pin(&self.dir, id);
            match std::fs::read_link(&link) {
                Ok(target) => out.push((SetId(id), target.to_string_lossy().into_owned())),
                // Released meanwhile.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(XdpError::PinDir {
                        path: link,
                        problem: format!("cannot read it: {e}"),
                    })
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// Give counter id `id` back (its set is gone, or no longer drops in XDP). Call it once
    /// the set's entries are deleted ([`Xdp::clear_set`]).
    pub fn release_set(&mut self, id: SetId) -> Result<()> {
        let _lock = self.lock()?;
        host::unpin(&pins::set_name_pin(&self.dir, id.0))
    }
}
