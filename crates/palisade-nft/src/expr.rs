//! Rule expressions as plain data, and their encoding.
//!
//! A rule is a short program for the kernel's nftables VM: load packet fields into registers,
//! compare or look them up in a set, then give a verdict. Keeping it as data lets the policy
//! compiler (and tests) build and compare rules without a kernel.

use crate::consts::*;
use crate::wire::MsgWriter;

/// One expression of a rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expr {
    /// Load packet metadata (`meta nfproto`, `meta l4proto`, ...) into a register.
    Meta { key: u32, dreg: u32 },
    /// Compare a register with constant bytes.
    Cmp { sreg: u32, op: u32, data: Vec<u8> },
    /// Load `len` bytes at `offset` from a header into a register.
    Payload {
        base: u32,
        offset: u32,
        len: u32,
        dreg: u32,
    },
    /// Match when the register (or concatenation starting at it) is in the named set.
    Lookup { set: String, sreg: u32 },
    /// Match when the register's value is NOT in the set (`!= @set`).
    LookupNot { set: String, sreg: u32 },
    /// Load connection-tracking data (`ct state`) into a register.
    Ct { key: u32, dreg: u32 },
    /// `dreg = (sreg & mask) ^ xor` over `mask.len()` bytes: prefix and bit tests.
    Bitwise {
        sreg: u32,
        dreg: u32,
        mask: Vec<u8>,
        xor: Vec<u8>,
    },
    /// Match when `from <= register <= to` (big-endian byte comparison).
    Range {
        sreg: u32,
        from: Vec<u8>,
        to: Vec<u8>,
    },
    /// Token bucket of `burst` packets refilled at `rate` per `unit_secs`: go on while within
    /// it, or with `over`, only once it is exhausted.
    Limit {
        rate: u64,
        unit_secs: u64,
        burst: u32,
        over: bool,
    },
    /// Go on only when the connection count is over `count` (nft's `ct count over`).
    ConnlimitOver { count: u32 },
    /// Add or update the key in register `sreg` to a set from the packet path, with an
    /// element timeout and a per-element stateful expression (a meter).
    Dynset {
        set: String,
        update: bool,
        sreg: u32,
        timeout_ms: Option<u64>,
        expr: Option<Box<Expr>>,
    },
    /// Log the packet through the kernel's nf_log, with a prefix.
    Log { prefix: String },
    /// Count packets and bytes that reach this point.
    Counter,
    /// A counter that starts from these values: a rule rebuilt in place keeps its count.
    CounterFrom { packets: u64, bytes: u64 },
    /// Final verdict.
    Verdict(Verdict),
    /// Reject: TCP reset or ICMP(v6) administratively prohibited.
    Reject(Reject),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Accept,
    Drop,
    /// Continue in a regular chain of the same table, then come back.
    Jump(&'static str),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reject {
    TcpReset,
    IcmpxAdminProhibited,
    /// ICMP or ICMPv6 port unreachable, whichever fits the packet.
    IcmpxPortUnreachable,
}

impl Expr {
    /// `meta nfproto == family`: inet tables see both IPv4 and IPv6 packets.
    pub fn nfproto_is(family: u8) -> [Expr; 2] {
        [
            Expr::Meta {
                key: NFT_META_NFPROTO,
                dreg: NFT_REG_1,
            },
            Expr::Cmp {
                sreg: NFT_REG_1,
                op: NFT_CMP_EQ,
                data: vec![family],
            },
        ]
    }

    /// `meta l4proto == proto`.
    pub fn l4proto_is(proto: u8) -> [Expr; 2] {
        [
            Expr::Meta {
                key: NFT_META_L4PROTO,
                dreg: NFT_REG_1,
            },
            Expr::Cmp {
                sreg: NFT_REG_1,
                op: NFT_CMP_EQ,
                data: vec![proto],
            },
        ]
    }

    /// The kernel's name of the expression, as a rule dump reports it.
    pub fn name(&self) -> &'static str {
        match self {
            Expr::Meta { .. } => "meta",
            Expr::Cmp { .. } => "cmp",
            Expr::Payload { .. } => "payload",
            Expr::Lookup { .. } | Expr::LookupNot { .. } => "lookup",
            Expr::Ct { .. } => "ct",
            Expr::Bitwise { .. } => "bitwise",
            Expr::Range { .. } => "range",
            Expr::Limit { .. } => "limit",
            Expr::ConnlimitOver { .. } => "connlimit",
            Expr::Dynset { .. } => "dynset",
            Expr::Log { .. } => "log",
            Expr::Counter | Expr::CounterFrom { .. } => "counter",
            Expr::Verdict(_) => "immediate",
            Expr::Reject(_) => "reject",
        }
    }

    /// Append this expression as an `NFTA_LIST_ELEM` of a rule's expression list.
    pub fn encode(&self, w: &mut MsgWriter) {
        let elem = w.begin_nested(NFTA_LIST_ELEM);
        self.encode_body(w);
        w.end_nested(elem);
    }

    /// The expression's name and data, inside whatever nest the caller opened.
    fn encode_body(&self, w: &mut MsgWriter) {
        w.attr_str(NFTA_EXPR_NAME, self.name());
        let data = w.begin_nested(NFTA_EXPR_DATA);
        match self {
            Expr::Meta { key, dreg } => {
                w.attr_u32(NFTA_META_KEY, *key);
                w.attr_u32(NFTA_META_DREG, *dreg);
            }
            Expr::Cmp { sreg, op, data } => {
                w.attr_u32(NFTA_CMP_SREG, *sreg);
                w.attr_u32(NFTA_CMP_OP, *op);
                let d = w.begin_nested(NFTA_CMP_DATA);
                w.attr(NFTA_DATA_VALUE, data);
                w.end_nested(d);
            }
            Expr::Payload {
                base,
                offset,
                len,
                dreg,
            } => {
                w.attr_u32(NFTA_PAYLOAD_DREG, *dreg);
                w.attr_u32(NFTA_PAYLOAD_BASE, *base);
                w.attr_u32(NFTA_PAYLOAD_OFFSET, *offset);
                w.attr_u32(NFTA_PAYLOAD_LEN, *len);
            }
            Expr::Lookup { set, sreg } => {
                w.attr_str(NFTA_LOOKUP_SET, set);
                w.attr_u32(NFTA_LOOKUP_SREG, *sreg);
            }
            Expr::LookupNot { set, sreg } => {
                w.attr_str(NFTA_LOOKUP_SET, set);
                w.attr_u32(NFTA_LOOKUP_SREG, *sreg);
                w.attr_u32(NFTA_LOOKUP_FLAGS, NFT_LOOKUP_F_INV);
            }
            Expr::Ct { key, dreg } => {
                w.attr_u32(NFTA_CT_KEY, *key);
                w.attr_u32(NFTA_CT_DREG, *dreg);
            }
            Expr::Bitwise {
                sreg,
                dreg,
                mask,
                xor,
            } => {
                w.attr_u32(NFTA_BITWISE_SREG, *sreg);
                w.attr_u32(NFTA_BITWISE_DREG, *dreg);
                w.attr_u32(NFTA_BITWISE_LEN, mask.len() as u32);
                for (ty, bytes) in [(NFTA_BITWISE_MASK, mask), (NFTA_BITWISE_XOR, xor)] {
                    let n = w.begin_nested(ty);
                    w.attr(NFTA_DATA_VALUE, bytes);
                    w.end_nested(n);
                }
            }
            Expr::Range { sreg, from, to } => {
                w.attr_u32(NFTA_RANGE_SREG, *sreg);
                w.attr_u32(NFTA_RANGE_OP, NFT_RANGE_EQ);
                for (ty, bytes) in [(NFTA_RANGE_FROM_DATA, from), (NFTA_RANGE_TO_DATA, to)] {
                    let n = w.begin_nested(ty);
                    w.attr(NFTA_DATA_VALUE, bytes);
                    w.end_nested(n);
                }
            }
            Expr::Limit {
                rate,
                unit_secs,
                burst,
                over,
            } => {
                w.attr_u64(NFTA_LIMIT_RATE, *rate);
                w.attr_u64(NFTA_LIMIT_UNIT, *unit_secs);
                w.attr_u32(NFTA_LIMIT_BURST, *burst);
                w.attr_u32(NFTA_LIMIT_TYPE, NFT_LIMIT_PKTS);
                w.attr_u32(NFTA_LIMIT_FLAGS, if *over { NFT_LIMIT_F_INV } else { 0 });
            }
            Expr::ConnlimitOver { count } => {
                w.attr_u32(NFTA_CONNLIMIT_COUNT, *count);
                w.attr_u32(NFTA_CONNLIMIT_FLAGS, NFT_CONNLIMIT_F_INV);
            }
            Expr::Dynset {
                set,
                update,
                sreg,
                timeout_ms,
                expr,
            } => {
                w.attr_str(NFTA_DYNSET_SET_NAME, set);
                let op = if *update {
                    NFT_DYNSET_OP_UPDATE
                } else {
                    NFT_DYNSET_OP_ADD
                };
                w.attr_u32(NFTA_DYNSET_OP, op);
                w.attr_u32(NFTA_DYNSET_SREG_KEY, *sreg);
                if let Some(t) = timeout_ms {
                    w.attr_u64(NFTA_DYNSET_TIMEOUT, *t);
                }
                if let Some(e) = expr {
                    let n = w.begin_nested(NFTA_DYNSET_EXPR);
                    e.encode_body(w);
                    w.end_nested(n);
                }
            }
            Expr::Log { prefix } => w.attr_str(NFTA_LOG_PREFIX, prefix),
            Expr::Counter => {
                w.attr_u64(NFTA_COUNTER_BYTES, 0);
                w.attr_u64(NFTA_COUNTER_PACKETS, 0);
            }
            Expr::CounterFrom { packets, bytes } => {
                w.attr_u64(NFTA_COUNTER_BYTES, *bytes);
                w.attr_u64(NFTA_COUNTER_PACKETS, *packets);
            }
            Expr::Verdict(v) => {
                w.attr_u32(NFTA_IMMEDIATE_DREG, NFT_REG_VERDICT);
                let d = w.begin_nested(NFTA_IMMEDIATE_DATA);
                let vd = w.begin_nested(NFTA_DATA_VERDICT);
                w.attr_u32(
                    NFTA_VERDICT_CODE,
                    match v {
                        Verdict::Accept => NF_ACCEPT,
                        Verdict::Drop => NF_DROP,
                        Verdict::Jump(_) => NFT_JUMP as u32,
                    },
                );
                if let Verdict::Jump(chain) = v {
                    w.attr_str(NFTA_VERDICT_CHAIN, chain);
                }
                w.end_nested(vd);
                w.end_nested(d);
            }
            Expr::Reject(Reject::TcpReset) => {
                w.attr_u32(NFTA_REJECT_TYPE, NFT_REJECT_TCP_RST);
                w.attr(NFTA_REJECT_ICMP_CODE, &[0]);
            }
            Expr::Reject(Reject::IcmpxAdminProhibited) => {
                w.attr_u32(NFTA_REJECT_TYPE, NFT_REJECT_ICMPX_UNREACH);
                w.attr(NFTA_REJECT_ICMP_CODE, &[NFT_REJECT_ICMPX_ADMIN_PROHIBITED]);
            }
            Expr::Reject(Reject::IcmpxPortUnreachable) => {
                w.attr_u32(NFTA_REJECT_TYPE, NFT_REJECT_ICMPX_UNREACH);
                w.attr(NFTA_REJECT_ICMP_CODE, &[NFT_REJECT_ICMPX_PORT_UNREACH]);
            }
        }
        w.end_nested(data);
    }
}
