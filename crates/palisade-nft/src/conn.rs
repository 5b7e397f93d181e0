//! A connection to the kernel's nftables: commit batches, dump objects, query elements.

use crate::batch::{Batch, EncodedBatch};
use crate::consts::*;
use crate::dump::{self, ChainInfo, RuleInfo, SetInfo, TableInfo};
use crate::error::{describe_errno, NftError, Result};
use crate::set::{Element, ElementInfo, Key};
use crate::socket::NlSocket;
use crate::wire::{cstr, Attrs, Messages, MsgHeader, MsgWriter};
use std::path::Path;

/// Flag the kernel sets on dump replies when the ruleset changed mid-dump.
const NLM_F_DUMP_INTR: u16 = 0x10;

/// One reply to a message in a batch.
#[derive(Debug)]
struct Reply {
    seq: u32,
    errno: i32,
    kernel_msg: Option<String>,
    /// Offset of the offending attribute from the start of the failed message.
    bad_attr_offset: Option<usize>,
}

/// What a successful commit did, for timing reports.
#[derive(Clone, Copy, Debug, Default)]
pub struct CommitStats {
    pub messages: usize,
    pub bytes: usize,
}

/// A connection to nftables in one network namespace.
pub struct Netlink {
    pub(crate) sock: NlSocket,
    seq: u32,
    pub(crate) buf: Vec<u8>,
}

impl Netlink {
    /// Connect in the current network namespace.
    pub fn open() -> Result<Self> {
        Ok(Self::from_socket(NlSocket::open()?))
    }

    /// Connect inside the network namespace at `path` (`/run/netns/NAME`).
    pub fn open_in_netns(path: &Path) -> Result<Self> {
        Ok(Self::from_socket(NlSocket::open_in_netns(path)?))
    }

    fn from_socket(sock: NlSocket) -> Self {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as u32)
            .unwrap_or(1);
        Self {
            sock,
            seq: seed,
            buf: vec![0; 1 << 20],
        }
    }

    /// The cookie of the network namespace this connection talks to (see
    /// [`NlSocket::netns_cookie`]).
    pub fn netns_cookie(&self) -> Result<u64> {
        Ok(self.sock.netns_cookie()?)
    }

    /// Start a batch; with `genid`, it only commits if the ruleset is still at that generation.
    pub fn batch(&mut self, genid: Option<u32>) -> Batch {
        Batch::new(self.seq, genid)
    }

    /// The ruleset's generation id: it changes on every committed transaction.
    pub fn generation(&mut self) -> Result<u32> {
        let seq = self.next_seq();
        let mut w = MsgWriter::new();
        let m = w.begin_msg(
            nft_type(NFT_MSG_GETGEN),
            NLM_F_REQUEST | NLM_F_ACK,
            seq,
            NFPROTO_UNSPEC,
            0,
        );
        w.end_msg(m);
        self.sock.send(w.as_bytes())?;
        let mut gen = None;
        self.read_until_ack(seq, |hdr, payload| {
            if hdr.nft_msg() == Some(NFT_MSG_NEWGEN) {
                gen = dump::parse_generation(payload);
            }
        })?;
        gen.ok_or_else(|| NftError::Protocol("no generation id in reply".into()))
    }

    /// Send a batch in one `sendmsg` and check that the kernel acknowledged every message.
    /// On any error the kernel has aborted the whole transaction: nothing changed.
    pub fn commit(&mut self, batch: Batch) -> Result<CommitStats> {
        self.seq = batch.next_seq();
        let enc = batch.finish();
        if enc.messages.is_empty() {
            return Ok(CommitStats::default());
        }
        self.sock.reserve_send(enc.bytes.len())?;
        self.sock.send(&enc.bytes)?;
        let replies = self.drain_replies()?;
        check_replies(&enc, &replies)?;
        Ok(CommitStats {
            messages: enc.messages.len(),
            bytes: enc.bytes.len(),
        })
    }

    /// Read every reply already queued (the kernel answered during `send`).
    fn drain_replies(&mut self) -> Result<Vec<Reply>> {
        let mut replies = Vec::new();
        loop {
            let n = match self.sock.recv(&mut self.buf, false) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                    return Err(NftError::Protocol(
                        "replies were lost: the socket receive buffer overflowed".into(),
                    ))
                }
                Err(e) => return Err(e.into()),
            };
            for (hdr, payload) in Messages::new(&self.buf[..n]) {
                if hdr.ty == NLMSG_ERROR {
                    replies.push(parse_error(&hdr, payload)?);
                }
            }
        }
        Ok(replies)
    }

    pub(crate) fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    /// Send a dump request and hand each reply message to `each` until the dump is done.
    fn dump(
        &mut self,
        msg: u16,
        family: u8,
        attrs: impl FnOnce(&mut MsgWriter),
        mut each: impl FnMut(&[u8]),
    ) -> Result<()> {
        let seq = self.next_seq();
        let mut w = MsgWriter::new();
        let m = w.begin_msg(nft_type(msg), NLM_F_REQUEST | NLM_F_DUMP, seq, family, 0);
        attrs(&mut w);
        w.end_msg(m);
        self.sock.send(w.as_bytes())?;
        loop {
            let n = self.sock.recv(&mut self.buf, true)?;
            for (hdr, payload) in Messages::new(&self.buf[..n]) {
                if hdr.seq != seq {
                    continue;
                }
                if hdr.flags & NLM_F_DUMP_INTR != 0 {
                    return Err(NftError::GenerationChanged);
                }
                match hdr.ty {
                    NLMSG_DONE => return Ok(()),
                    NLMSG_ERROR => {
                        let r = parse_error(&hdr, payload)?;
                        if r.errno != 0 {
                            return Err(NftError::Kernel {
                                what: "a dump request".into(),
                                errno: r.errno,
                                reason: describe_errno(r.errno, r.kernel_msg.as_deref()),
                            });
                        }
                    }
                    _ => each(payload),
                }
            }
        }
    }

    /// Read replies to a non-dump request until its acknowledgement.
    pub(crate) fn read_until_ack(
        &mut self,
        seq: u32,
        mut each: impl FnMut(&MsgHeader, &[u8]),
    ) -> Result<()> {
        loop {
            let n = self.sock.recv(&mut self.buf, true)?;
            for (hdr, payload) in Messages::new(&self.buf[..n]) {
                if hdr.seq != seq {
                    continue;
                }
                if hdr.ty == NLMSG_ERROR {
                    let r = parse_error(&hdr, payload)?;
                    if r.errno != 0 {
                        return Err(NftError::Kernel {
                            what: "a query".into(),
                            errno: r.errno,
                            reason: describe_errno(r.errno, r.kernel_msg.as_deref()),
                        });
                    }
                    return Ok(());
                }
                each(&hdr, payload);
            }
        }
    }

    pub fn tables(&mut self) -> Result<Vec<TableInfo>> {
        let mut out = Vec::new();
        self.dump(
            NFT_MSG_GETTABLE,
            NFPROTO_UNSPEC,
            |_| {},
            |p| out.push(dump::parse_table(p)),
        )?;
        Ok(out)
    }

    /// Dump one kind of object of one table. The kernel filters by the table attribute;
    /// the check on the parsed table name guards against kernels that do not.
    fn dump_in_table<T>(
        &mut self,
        msg: u16,
        family: u8,
        table: &str,
        parse: fn(&[u8]) -> T,
        table_of: fn(&T) -> &str,
    ) -> Result<Vec<T>> {
        // NFTA_CHAIN_TABLE, NFTA_SET_TABLE and NFTA_RULE_TABLE are all attribute 1.
        const TABLE_ATTR: u16 = NFTA_SET_TABLE;
        let mut out = Vec::new();
        self.dump(
            msg,
            family,
            |w| w.attr_str(TABLE_ATTR, table),
            |p| {
                let obj = parse(p);
                if table_of(&obj) == table {
                    out.push(obj)
                }
            },
        )?;
        Ok(out)
    }

    pub fn chains(&mut self, family: u8, table: &str) -> Result<Vec<ChainInfo>> {
        self.dump_in_table(NFT_MSG_GETCHAIN, family, table, dump::parse_chain, |c| {
            &c.table
        })
    }

    pub fn sets(&mut self, family: u8, table: &str) -> Result<Vec<SetInfo>> {
        self.dump_in_table(NFT_MSG_GETSET, family, table, dump::parse_set, |s| &s.table)
    }

    pub fn rules(&mut self, family: u8, table: &str) -> Result<Vec<RuleInfo>> {
        self.dump_in_table(NFT_MSG_GETRULE, family, table, dump::parse_rule, |r| {
            &r.table
        })
    }

    /// Stream every element of a set to `each`, without collecting them.
    pub fn elements(
        &mut self,
        family: u8,
        table: &str,
        set: &str,
        mut each: impl FnMut(ElementInfo),
    ) -> Result<()> {
        self.dump(
            NFT_MSG_GETSETELEM,
            family,
            |w| {
                w.attr_str(NFTA_SET_ELEM_LIST_TABLE, table);
                w.attr_str(NFTA_SET_ELEM_LIST_SET, set);
            },
            |p| dump::parse_elements(p, &mut each),
        )
    }

    /// The element of `set` that contains `key` (for interval sets, the range around it), if any.
    /// A single lookup in the kernel: the set is not read.
    pub fn get_element(
        &mut self,
        family: u8,
        table: &str,
        set: &str,
        key: Key,
    ) -> Result<Option<ElementInfo>> {
        let seq = self.next_seq();
        let request = get_elements_request(seq, family, table, set, &[Element::key(key)]);
        self.sock.send(&request)?;
        let mut found = None;
        match self.read_until_ack(seq, |hdr, payload| {
            if hdr.nft_msg() == Some(NFT_MSG_NEWSETELEM) {
                dump::parse_elements(payload, |e| found = Some(e));
            }
        }) {
            Ok(()) => Ok(found),
            Err(e) if e.errno() == Some(libc::ENOENT) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// A `GETSETELEM` request for `elements` of set `set`: the kernel answers with each element it
/// holds, or fails at the first it does not.
pub(crate) fn get_elements_request(
    seq: u32,
    family: u8,
    table: &str,
    set: &str,
    elements: &[Element<'_>],
) -> Vec<u8> {
    let mut w = MsgWriter::with_capacity(64 + elements.len() * 40);
    let m = w.begin_msg(
        nft_type(NFT_MSG_GETSETELEM),
        NLM_F_REQUEST | NLM_F_ACK,
        seq,
        family,
        0,
    );
    w.attr_str(NFTA_SET_ELEM_LIST_TABLE, table);
    w.attr_str(NFTA_SET_ELEM_LIST_SET, set);
    let list = w.begin_nested(NFTA_SET_ELEM_LIST_ELEMENTS);
    for e in elements {
        crate::batch::encode_element(&mut w, e);
    }
    w.end_nested(list);
    w.end_msg(m);
    w.into_bytes()
}

pub(crate) fn nft_type(msg: u16) -> u16 {
    (NFNL_SUBSYS_NFTABLES << 8) | msg
}

/// Decode an `NLMSG_ERROR` (which is also how acknowledgements arrive: errno 0).
fn parse_error(hdr: &MsgHeader, payload: &[u8]) -> Result<Reply> {
    let bad = || NftError::Protocol("truncated error message".into());
    let errno = -i32::from_ne_bytes(
        payload
            .get(0..4)
            .ok_or_else(bad)?
            .try_into()
            .map_err(|_| bad())?,
    );
    let orig = MsgHeader::parse(payload.get(4..).ok_or_else(bad)?).ok_or_else(bad)?;
    let mut reply = Reply {
        seq: orig.seq,
        errno,
        kernel_msg: None,
        bad_attr_offset: None,
    };
    if hdr.flags & NLM_F_ACK_TLVS != 0 {
        // With NETLINK_CAP_ACK only the original header is echoed; the TLVs follow it.
        for (ty, p) in Attrs::new(payload.get(4 + NLMSG_HDRLEN..).unwrap_or(&[])) {
            match ty {
                NLMSGERR_ATTR_MSG => reply.kernel_msg = cstr(p).map(str::to_string),
                NLMSGERR_ATTR_OFFS => {
                    // Host byte order, unlike nftables attributes.
                    reply.bad_attr_offset = p
                        .try_into()
                        .ok()
                        .map(u32::from_ne_bytes)
                        .map(|v| v as usize)
                }
                _ => {}
            }
        }
    }
    Ok(reply)
}

/// Turn the kernel's replies to a batch into success, or an error naming the failed object.
fn check_replies(enc: &EncodedBatch, replies: &[Reply]) -> Result<()> {
    if let Some(r) = replies.iter().find(|r| r.errno != 0) {
        if r.errno == libc::ERESTART {
            return Err(NftError::GenerationChanged);
        }
        let what = match enc.message(r.seq) {
            Some(m) => {
                let element = r
                    .bad_attr_offset
                    .and_then(|off| enc.bytes.get(m.range.start + off..m.range.end))
                    .and_then(|at| Attrs::new(at).next())
                    .and_then(|(_, elem)| dump::parse_element(elem));
                match element {
                    Some(e) => format!("{}, element {}", m.what, e.key),
                    None => m.what.clone(),
                }
            }
            None if r.seq == enc.begin_seq => "the transaction".to_string(),
            None => format!("message {}", r.seq),
        };
        return Err(NftError::Kernel {
            what,
            errno: r.errno,
            reason: describe_errno(r.errno, r.kernel_msg.as_deref()),
        });
    }
    let acks = replies
        .iter()
        .filter(|r| enc.message(r.seq).is_some())
        .count();
    if acks != enc.expected_acks() {
        return Err(NftError::Protocol(format!(
            "the kernel acknowledged {acks} of {} messages",
            enc.expected_acks()
        )));
    }
    Ok(())
}
