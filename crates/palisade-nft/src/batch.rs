//! Building one nftables transaction.
//!
//! The kernel applies everything between `BATCH_BEGIN` and `BATCH_END` atomically, and it reads
//! the whole batch from a single `sendmsg`. Each message gets its own sequence number and asks
//! for an acknowledgement, and the batch remembers which object each sequence number is about,
//! so that an error from the kernel can be reported as "set blocklist_v4, element 192.0.2.1"
//! rather than "EEXIST".

use crate::consts::*;
use crate::expr::Expr;
use crate::set::{Element, KeyKind};
use crate::wire::{udata_comment, MsgWriter, MAX_ATTR_LEN};

/// Room kept free in each element list for the largest single element, so a chunk is closed
/// before its nested attribute could exceed the 64 KiB `nla_len` limit.
const ELEMENT_HEADROOM: usize = 512;

/// A base chain's hook.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hook {
    pub num: u32,
    pub priority: i32,
    /// Chain policy: [`NF_ACCEPT`] or [`NF_DROP`].
    pub policy: u32,
}

/// A kernel set's definition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetSpec {
    pub table: String,
    pub name: String,
    pub key: KeyKind,
    /// Holds ranges (networks), not only single keys.
    pub interval: bool,
    /// Elements may carry timeouts.
    pub timeout: bool,
    /// Timeout given to elements added without one.
    pub default_timeout_ms: Option<u64>,
    pub comment: Option<String>,
    /// The kernel adds elements from the packet path (`dynset`).
    pub dynamic: bool,
    /// Most elements the set may hold (dynamic sets stop growing there).
    pub size: Option<u32>,
}

/// What a message in the batch is about, for error reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageInfo {
    pub seq: u32,
    /// Byte range of the message inside the batch, to find the element an error points at.
    pub range: std::ops::Range<usize>,
    pub what: String,
}

/// An nftables transaction being built.
pub struct Batch {
    genid: Option<u32>,
    w: MsgWriter,
    next_seq: u32,
    first_seq: u32,
    messages: Vec<MessageInfo>,
    next_set_id: u32,
}

/// A finished batch, ready for one `sendmsg`.
pub struct EncodedBatch {
    pub bytes: Vec<u8>,
    pub messages: Vec<MessageInfo>,
    /// Sequence number of the `BATCH_BEGIN` message.
    pub begin_seq: u32,
}

impl EncodedBatch {
    /// The message with this sequence number.
    pub fn message(&self, seq: u32) -> Option<&MessageInfo> {
        self.messages
            .binary_search_by_key(&seq, |m| m.seq)
            .ok()
            .map(|i| &self.messages[i])
    }

    /// Number of acknowledgements the kernel sends on success: one per message.
    pub fn expected_acks(&self) -> usize {
        self.messages.len()
    }
}

impl Batch {
    /// The generation this batch is guarded by: once it commits, the ruleset is at the next.
    pub fn genid(&self) -> Option<u32> {
        self.genid
    }

    /// Start a batch. With `genid`, the kernel refuses it (`ERESTART`) if the ruleset changed
    /// since that generation was read, which makes read-diff-write safe against concurrent
    /// writers.
    pub fn new(first_seq: u32, genid: Option<u32>) -> Self {
        let mut w = MsgWriter::with_capacity(4096);
        let m = w.begin_msg(
            NFNL_MSG_BATCH_BEGIN,
            NLM_F_REQUEST,
            first_seq,
            NFPROTO_UNSPEC,
            NFNL_SUBSYS_NFTABLES,
        );
        if let Some(g) = genid {
            w.attr_u32(NFNL_BATCH_GENID, g);
        }
        w.end_msg(m);
        Self {
            genid,
            w,
            next_seq: first_seq + 1,
            first_seq,
            messages: Vec::new(),
            next_set_id: 1,
        }
    }

    /// Make room for `bytes` more, so a huge batch is allocated once rather than regrown.
    pub fn reserve(&mut self, bytes: usize) {
        self.w.reserve(bytes);
    }

    /// Number of messages so far, besides begin and end.
    pub fn len(&self) -> usize {
        self.messages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    fn begin(&mut self, msg: u16, flags: u16, family: u8) -> (crate::wire::Open, u32, usize) {
        let seq = self.next_seq;
        self.next_seq += 1;
        let start = self.w.len();
        let ty = (NFNL_SUBSYS_NFTABLES << 8) | msg;
        let open = self
            .w
            .begin_msg(ty, NLM_F_REQUEST | NLM_F_ACK | flags, seq, family, 0);
        (open, seq, start)
    }

    fn end(&mut self, open: crate::wire::Open, seq: u32, start: usize, what: String) {
        self.w.end_msg(open);
        self.messages.push(MessageInfo {
            seq,
            range: start..self.w.len(),
            what,
        });
    }

    /// Create the table if it does not exist.
    pub fn add_table(&mut self, family: u8, name: &str) {
        let (m, seq, start) = self.begin(NFT_MSG_NEWTABLE, NLM_F_CREATE, family);
        self.w.attr_str(NFTA_TABLE_NAME, name);
        self.end(m, seq, start, format!("table {name}"));
    }

    pub fn del_table(&mut self, family: u8, name: &str) {
        let (m, seq, start) = self.begin(NFT_MSG_DELTABLE, 0, family);
        self.w.attr_str(NFTA_TABLE_NAME, name);
        self.end(m, seq, start, format!("table {name}"));
    }

    /// Create a chain (a base chain when `hook` is given) if it does not exist.
    pub fn add_chain(&mut self, family: u8, table: &str, name: &str, hook: Option<Hook>) {
        let (m, seq, start) = self.begin(NFT_MSG_NEWCHAIN, NLM_F_CREATE, family);
        self.w.attr_str(NFTA_CHAIN_TABLE, table);
        self.w.attr_str(NFTA_CHAIN_NAME, name);
        if let Some(h) = hook {
            let n = self.w.begin_nested(NFTA_CHAIN_HOOK);
            self.w.attr_u32(NFTA_HOOK_HOOKNUM, h.num);
            self.w.attr_u32(NFTA_HOOK_PRIORITY, h.priority as u32);
            self.w.end_nested(n);
            self.w.attr_u32(NFTA_CHAIN_POLICY, h.policy);
            self.w.attr_str(NFTA_CHAIN_TYPE, "filter");
        }
        self.end(m, seq, start, format!("chain {name}"));
    }

    /// Delete a chain; its rules must be gone (flushed earlier in the batch).
    pub fn del_chain(&mut self, family: u8, table: &str, name: &str) {
        let (m, seq, start) = self.begin(NFT_MSG_DELCHAIN, 0, family);
        self.w.attr_str(NFTA_CHAIN_TABLE, table);
        self.w.attr_str(NFTA_CHAIN_NAME, name);
        self.end(m, seq, start, format!("chain {name}"));
    }

    /// Remove every rule of a chain.
    pub fn flush_chain(&mut self, family: u8, table: &str, chain: &str) {
        let (m, seq, start) = self.begin(NFT_MSG_DELRULE, 0, family);
        self.w.attr_str(NFTA_RULE_TABLE, table);
        self.w.attr_str(NFTA_RULE_CHAIN, chain);
        self.end(m, seq, start, format!("rules of chain {chain}"));
    }

    /// Append a rule at the end of a chain.
    pub fn add_rule(
        &mut self,
        family: u8,
        table: &str,
        chain: &str,
        exprs: &[Expr],
        comment: Option<&str>,
    ) {
        let (m, seq, start) = self.begin(NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND, family);
        self.w.attr_str(NFTA_RULE_TABLE, table);
        self.w.attr_str(NFTA_RULE_CHAIN, chain);
        let list = self.w.begin_nested(NFTA_RULE_EXPRESSIONS);
        for e in exprs {
            e.encode(&mut self.w);
        }
        self.w.end_nested(list);
        if let Some(c) = comment {
            self.w.attr(
                NFTA_RULE_USERDATA,
                &udata_comment(NFTNL_UDATA_RULE_COMMENT, c),
            );
        }
        let what = match comment {
            Some(c) => format!("rule in chain {chain} ({c})"),
            None => format!("rule in chain {chain}"),
        };
        self.end(m, seq, start, what);
    }

    /// Create a set; with `exclusive`, fail if it exists (`EEXIST`).
    pub fn add_set(&mut self, family: u8, spec: &SetSpec, exclusive: bool) {
        let flags = NLM_F_CREATE | if exclusive { NLM_F_EXCL } else { 0 };
        let (m, seq, start) = self.begin(NFT_MSG_NEWSET, flags, family);
        let w = &mut self.w;
        w.attr_str(NFTA_SET_TABLE, &spec.table);
        w.attr_str(NFTA_SET_NAME, &spec.name);
        let mut set_flags = 0;
        if spec.interval {
            set_flags |= NFT_SET_INTERVAL;
        }
        if spec.timeout {
            set_flags |= NFT_SET_TIMEOUT;
        }
        if spec.key.is_concat() {
            set_flags |= NFT_SET_CONCAT;
        }
        if spec.dynamic {
            set_flags |= NFT_SET_EVAL;
        }
        w.attr_u32(NFTA_SET_FLAGS, set_flags);
        w.attr_u32(NFTA_SET_KEY_TYPE, spec.key.key_type());
        w.attr_u32(NFTA_SET_KEY_LEN, spec.key.key_len());
        // The kernel requires an id on NEWSET, unique within the batch.
        w.attr_u32(NFTA_SET_ID, self.next_set_id);
        self.next_set_id += 1;
        if let Some(t) = spec.default_timeout_ms {
            w.attr_u64(NFTA_SET_TIMEOUT, t);
        }
        if spec.key.is_concat() || spec.size.is_some() {
            let desc = w.begin_nested(NFTA_SET_DESC);
            if let Some(size) = spec.size {
                w.attr_u32(NFTA_SET_DESC_SIZE, size);
            }
            if spec.key.is_concat() {
                let concat = w.begin_nested(NFTA_SET_DESC_CONCAT);
                for len in spec.key.field_lens() {
                    let f = w.begin_nested(NFTA_LIST_ELEM);
                    w.attr_u32(NFTA_SET_FIELD_LEN, *len);
                    w.end_nested(f);
                }
                w.end_nested(concat);
            }
            w.end_nested(desc);
        }
        if let Some(c) = &spec.comment {
            w.attr(
                NFTA_SET_USERDATA,
                &udata_comment(NFTNL_UDATA_SET_COMMENT, c),
            );
        }
        self.end(m, seq, start, format!("set {}", spec.name));
    }

    pub fn del_set(&mut self, family: u8, table: &str, name: &str) {
        let (m, seq, start) = self.begin(NFT_MSG_DELSET, 0, family);
        self.w.attr_str(NFTA_SET_TABLE, table);
        self.w.attr_str(NFTA_SET_NAME, name);
        self.end(m, seq, start, format!("set {name}"));
    }

    /// Remove every element of a set (a `DELSETELEM` without an element list).
    pub fn flush_set(&mut self, family: u8, table: &str, name: &str) {
        let (m, seq, start) = self.begin(NFT_MSG_DELSETELEM, 0, family);
        self.w.attr_str(NFTA_SET_ELEM_LIST_TABLE, table);
        self.w.attr_str(NFTA_SET_ELEM_LIST_SET, name);
        self.end(m, seq, start, format!("elements of set {name}"));
    }

    /// Add elements, split over as many messages as the 64 KiB attribute limit needs.
    /// With `exclusive`, an element that already exists is an error.
    pub fn add_elements<'e>(
        &mut self,
        family: u8,
        table: &str,
        set: &str,
        exclusive: bool,
        elems: impl IntoIterator<Item = Element<'e>>,
    ) {
        let flags = NLM_F_CREATE | if exclusive { NLM_F_EXCL } else { 0 };
        self.elements(NFT_MSG_NEWSETELEM, flags, family, table, set, elems);
    }

    pub fn del_elements<'e>(
        &mut self,
        family: u8,
        table: &str,
        set: &str,
        elems: impl IntoIterator<Item = Element<'e>>,
    ) {
        self.elements(NFT_MSG_DELSETELEM, 0, family, table, set, elems);
    }

    fn elements<'e>(
        &mut self,
        msg: u16,
        flags: u16,
        family: u8,
        table: &str,
        set: &str,
        elems: impl IntoIterator<Item = Element<'e>>,
    ) {
        let verb = if msg == NFT_MSG_NEWSETELEM {
            "adding to"
        } else {
            "deleting from"
        };
        let mut open: Option<(crate::wire::Open, u32, usize, crate::wire::Open)> = None;
        for e in elems {
            if let Some((_, _, _, list)) = open {
                if self.w.written_since(list) > MAX_ATTR_LEN - ELEMENT_HEADROOM {
                    let (m, seq, start, list) = open.take().expect("checked");
                    self.w.end_nested(list);
                    self.end(m, seq, start, format!("{verb} set {set}"));
                }
            }
            let (_, _, _, _) = *open.get_or_insert_with(|| {
                let (m, seq, start) = self.begin(msg, flags, family);
                self.w.attr_str(NFTA_SET_ELEM_LIST_TABLE, table);
                self.w.attr_str(NFTA_SET_ELEM_LIST_SET, set);
                let list = self.w.begin_nested(NFTA_SET_ELEM_LIST_ELEMENTS);
                (m, seq, start, list)
            });
            encode_element(&mut self.w, &e);
        }
        if let Some((m, seq, start, list)) = open {
            self.w.end_nested(list);
            self.end(m, seq, start, format!("{verb} set {set}"));
        }
    }

    /// Close the batch.
    pub fn finish(mut self) -> EncodedBatch {
        let m = self.w.begin_msg(
            NFNL_MSG_BATCH_END,
            NLM_F_REQUEST,
            self.next_seq,
            NFPROTO_UNSPEC,
            NFNL_SUBSYS_NFTABLES,
        );
        self.w.end_msg(m);
        EncodedBatch {
            bytes: self.w.into_bytes(),
            messages: self.messages,
            begin_seq: self.first_seq,
        }
    }

    /// The sequence number after this batch's last one.
    pub fn next_seq(&self) -> u32 {
        self.next_seq + 1
    }
}

pub(crate) fn encode_element(w: &mut MsgWriter, e: &Element<'_>) {
    let el = w.begin_nested(NFTA_LIST_ELEM);
    let k = w.begin_nested(NFTA_SET_ELEM_KEY);
    w.attr(NFTA_DATA_VALUE, e.key.as_bytes());
    w.end_nested(k);
    if let Some(end) = &e.key_end {
        let k = w.begin_nested(NFTA_SET_ELEM_KEY_END);
        w.attr(NFTA_DATA_VALUE, end.as_bytes());
        w.end_nested(k);
    }
    if e.flags != 0 {
        w.attr_u32(NFTA_SET_ELEM_FLAGS, e.flags);
    }
    if let Some(t) = e.timeout_ms {
        w.attr_u64(NFTA_SET_ELEM_TIMEOUT, t);
    }
    if let Some(c) = e.comment {
        w.attr(
            NFTA_SET_ELEM_USERDATA,
            &udata_comment(NFTNL_UDATA_SET_ELEM_COMMENT, c),
        );
    }
    w.end_nested(el);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::set::Key;
    use crate::wire::{Attrs, Messages};

    #[test]
    fn elements_are_chunked_under_the_attribute_limit() {
        let mut b = Batch::new(100, None);
        let n = 100_000u32;
        b.add_elements(
            NFPROTO_INET,
            "t",
            "s",
            false,
            (0..n).map(|i| Element::key(Key::ipv4(i))),
        );
        let enc = b.finish();
        let mut seen = 0;
        let mut msgs = 0;
        for (hdr, payload) in Messages::new(&enc.bytes) {
            if hdr.nft_msg() != Some(NFT_MSG_NEWSETELEM) {
                continue;
            }
            msgs += 1;
            assert!(hdr.flags & NLM_F_ACK != 0);
            let list = Attrs::of_nfmsg(payload)
                .find(NFTA_SET_ELEM_LIST_ELEMENTS)
                .unwrap();
            assert!(list.len() + 4 <= MAX_ATTR_LEN);
            seen += Attrs::new(list).count();
        }
        assert_eq!(seen, n as usize);
        assert_eq!(msgs, enc.expected_acks());
        assert!(msgs > 1 && (n as usize / msgs) > 2000, "{msgs} messages");
        // sequence numbers map back to messages
        let first = enc.messages[0].seq;
        assert_eq!(first, 101);
        assert!(enc.message(first + 3).unwrap().what.contains("set s"));
        assert!(enc.message(99).is_none());
    }

    #[test]
    fn batch_is_framed_by_begin_and_end() {
        let mut b = Batch::new(1, Some(42));
        b.add_table(NFPROTO_INET, "palisade");
        let enc = b.finish();
        let types: Vec<u16> = Messages::new(&enc.bytes).map(|(h, _)| h.ty).collect();
        assert_eq!(
            types,
            vec![
                NFNL_MSG_BATCH_BEGIN,
                (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWTABLE,
                NFNL_MSG_BATCH_END
            ]
        );
        let (_, begin) = Messages::new(&enc.bytes).next().unwrap();
        assert_eq!(
            Attrs::of_nfmsg(begin).find(NFNL_BATCH_GENID),
            Some(&42u32.to_be_bytes()[..])
        );
    }
}
