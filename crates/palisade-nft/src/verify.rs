//! Checking that a set holds given elements, by lookups instead of a dump.
//!
//! A dump of a set restarts the kernel's walk for every 32 KiB reply, so reading back a
//! million-element set costs minutes. Asking for the elements one expects is linear: each
//! `GETSETELEM` request carries many keys, the kernel looks each up and answers with the
//! element it found, or fails the request at the first key it does not hold. With the
//! element count the kernel reports, "every expected element is there" proves the set holds
//! exactly them.

use crate::conn::{get_elements_request, Netlink};
use crate::consts::*;
use crate::dump;
use crate::error::Result;
use crate::set::Element;

/// Keys per request: every answer is a message of its own (about 4 KiB of receive buffer
/// each), and all of a request's answers must fit the socket's receive buffer.
const KEYS_PER_REQUEST: usize = 1024;

impl Netlink {
    /// Whether set `set` holds every one of `elements`, each exactly (same key, same end
    /// flag: a lookup that lands inside another range does not count).
    pub fn holds_all(
        &mut self,
        family: u8,
        table: &str,
        set: &str,
        elements: &[Element<'_>],
    ) -> Result<bool> {
        for chunk in elements.chunks(KEYS_PER_REQUEST) {
            let seq = self.next_seq();
            self.sock
                .send(&get_elements_request(seq, family, table, set, chunk))?;
            let mut next = 0usize;
            let mut exact = true;
            let answered = self.read_until_ack(seq, |hdr, payload| {
                if hdr.nft_msg() != Some(NFT_MSG_NEWSETELEM) {
                    return;
                }
                dump::parse_elements(payload, |got| {
                    let want = chunk.get(next);
                    exact &= want.is_some_and(|w| {
                        w.key == got.key
                            && (w.flags & NFT_SET_ELEM_INTERVAL_END != 0) == got.is_interval_end()
                    });
                    next += 1;
                });
            });
            match answered {
                Err(e) if e.errno() == Some(libc::ENOENT) => return Ok(false),
                Err(e) => return Err(e),
                Ok(()) if !exact || next != chunk.len() => return Ok(false),
                Ok(()) => {}
            }
        }
        Ok(true)
    }
}
