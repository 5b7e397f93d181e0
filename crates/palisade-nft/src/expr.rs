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
    /// Count packets and bytes that reach this point.
    Counter,
    /// Final verdict.
    Verdict(Verdict),
    /// Reject: TCP reset or ICMP(v6) administratively prohibited.
    Reject(Reject),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Accept,
    Drop,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reject {
    TcpReset,
    IcmpxAdminProhibited,
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

    fn name(&self) -> &'static str {
        match self {
            Expr::Meta { .. } => "meta",
            Expr::Cmp { .. } => "cmp",
            Expr::Payload { .. } => "payload",
            Expr::Lookup { .. } => "lookup",
            Expr::Counter => "counter",
            Expr::Verdict(_) => "immediate",
            Expr::Reject(_) => "reject",
        }
    }

    /// Append this expression as an `NFTA_LIST_ELEM` of a rule's expression list.
    pub fn encode(&self, w: &mut MsgWriter) {
        let elem = w.begin_nested(NFTA_LIST_ELEM);
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
            Expr::Counter => {
                w.attr_u64(NFTA_COUNTER_BYTES, 0);
                w.attr_u64(NFTA_COUNTER_PACKETS, 0);
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
                    },
                );
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
        }
        w.end_nested(data);
        w.end_nested(elem);
    }
}
