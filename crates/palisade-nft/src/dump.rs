//! Reading objects back from the kernel's replies.

use crate::consts::*;
use crate::set::{ElementInfo, Key, KeyKind};
use crate::wire::{be_u32, be_u64, cstr, udata_find, Attrs};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableInfo {
    pub family: u8,
    pub name: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainInfo {
    pub family: u8,
    pub table: String,
    pub name: String,
    /// (hook number, priority) of a base chain.
    pub hook: Option<(u32, i32)>,
    pub policy: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetInfo {
    pub family: u8,
    pub table: String,
    pub name: String,
    pub flags: u32,
    pub key: Option<KeyKind>,
    pub default_timeout_ms: Option<u64>,
    pub comment: Option<String>,
    /// Number of kernel elements (an interval is two in a plain interval set), where the
    /// kernel reports it.
    pub count: Option<u32>,
}

impl SetInfo {
    pub fn is_interval(&self) -> bool {
        self.flags & NFT_SET_INTERVAL != 0
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleInfo {
    pub family: u8,
    pub table: String,
    pub chain: String,
    pub handle: u64,
    pub comment: Option<String>,
    /// Names of the expressions, in order: enough to check a rule's shape.
    pub exprs: Vec<String>,
    /// Sets the rule looks up.
    pub lookups: Vec<String>,
    /// (packets, bytes) of the rule's counter.
    pub counter: Option<(u64, u64)>,
}

fn family(payload: &[u8]) -> u8 {
    payload.first().copied().unwrap_or(0)
}

fn string(attrs: &Attrs<'_>, ty: u16) -> String {
    attrs
        .find(ty)
        .and_then(cstr)
        .unwrap_or_default()
        .to_string()
}

pub fn parse_table(payload: &[u8]) -> TableInfo {
    let a = Attrs::of_nfmsg(payload);
    TableInfo {
        family: family(payload),
        name: string(&a, NFTA_TABLE_NAME),
    }
}

pub fn parse_chain(payload: &[u8]) -> ChainInfo {
    let a = Attrs::of_nfmsg(payload);
    let hook = a.find(NFTA_CHAIN_HOOK).and_then(|h| {
        let h = Attrs::new(h);
        Some((
            h.find(NFTA_HOOK_HOOKNUM).and_then(be_u32)?,
            h.find(NFTA_HOOK_PRIORITY).and_then(be_u32)? as i32,
        ))
    });
    ChainInfo {
        family: family(payload),
        table: string(&a, NFTA_CHAIN_TABLE),
        name: string(&a, NFTA_CHAIN_NAME),
        hook,
        policy: a.find(NFTA_CHAIN_POLICY).and_then(be_u32),
    }
}

pub fn parse_set(payload: &[u8]) -> SetInfo {
    let a = Attrs::of_nfmsg(payload);
    let key_type = a.find(NFTA_SET_KEY_TYPE).and_then(be_u32);
    let key_len = a.find(NFTA_SET_KEY_LEN).and_then(be_u32);
    SetInfo {
        family: family(payload),
        table: string(&a, NFTA_SET_TABLE),
        name: string(&a, NFTA_SET_NAME),
        flags: a.find(NFTA_SET_FLAGS).and_then(be_u32).unwrap_or(0),
        key: key_type
            .zip(key_len)
            .and_then(|(t, l)| KeyKind::from_type_and_len(t, l)),
        default_timeout_ms: a.find(NFTA_SET_TIMEOUT).and_then(be_u64),
        count: a.find(NFTA_SET_COUNT).and_then(be_u32),
        comment: a
            .find(NFTA_SET_USERDATA)
            .and_then(|u| udata_find(u, NFTNL_UDATA_SET_COMMENT))
            .and_then(cstr)
            .map(str::to_string),
    }
}

fn data_value(p: &[u8]) -> Option<Key> {
    Attrs::new(p).find(NFTA_DATA_VALUE).and_then(Key::new)
}

/// The elements of one `NEWSETELEM` reply, handed to `each` as they are decoded.
pub fn parse_elements(payload: &[u8], mut each: impl FnMut(ElementInfo)) {
    let Some(list) = Attrs::of_nfmsg(payload).find(NFTA_SET_ELEM_LIST_ELEMENTS) else {
        return;
    };
    for (_, elem) in Attrs::new(list) {
        if let Some(e) = parse_element(elem) {
            each(e);
        }
    }
}

/// One element's attributes (the payload of an `NFTA_LIST_ELEM`).
pub fn parse_element(elem: &[u8]) -> Option<ElementInfo> {
    let a = Attrs::new(elem);
    Some(ElementInfo {
        key: a.find(NFTA_SET_ELEM_KEY).and_then(data_value)?,
        key_end: a.find(NFTA_SET_ELEM_KEY_END).and_then(data_value),
        flags: a.find(NFTA_SET_ELEM_FLAGS).and_then(be_u32).unwrap_or(0),
        timeout_ms: a.find(NFTA_SET_ELEM_TIMEOUT).and_then(be_u64),
        expiration_ms: a.find(NFTA_SET_ELEM_EXPIRATION).and_then(be_u64),
        comment: a
            .find(NFTA_SET_ELEM_USERDATA)
            .and_then(|u| udata_find(u, NFTNL_UDATA_SET_ELEM_COMMENT))
            .and_then(cstr)
            .map(str::to_string),
    })
}

pub fn parse_rule(payload: &[u8]) -> RuleInfo {
    let a = Attrs::of_nfmsg(payload);
    let mut rule = RuleInfo {
        family: family(payload),
        table: string(&a, NFTA_RULE_TABLE),
        chain: string(&a, NFTA_RULE_CHAIN),
        handle: a.find(NFTA_RULE_HANDLE).and_then(be_u64).unwrap_or(0),
        comment: a
            .find(NFTA_RULE_USERDATA)
            .and_then(|u| udata_find(u, NFTNL_UDATA_RULE_COMMENT))
            .and_then(cstr)
            .map(str::to_string),
        exprs: Vec::new(),
        lookups: Vec::new(),
        counter: None,
    };
    for (_, e) in Attrs::new(a.find(NFTA_RULE_EXPRESSIONS).unwrap_or(&[])) {
        let e = Attrs::new(e);
        let name = string(&e, NFTA_EXPR_NAME);
        let data = Attrs::new(e.find(NFTA_EXPR_DATA).unwrap_or(&[]));
        match name.as_str() {
            "counter" => {
                let packets = data
                    .find(NFTA_COUNTER_PACKETS)
                    .and_then(be_u64)
                    .unwrap_or(0);
                let bytes = data.find(NFTA_COUNTER_BYTES).and_then(be_u64).unwrap_or(0);
                rule.counter = Some((packets, bytes));
            }
            "lookup" => rule.lookups.push(string(&data, NFTA_LOOKUP_SET)),
            _ => {}
        }
        rule.exprs.push(name);
    }
    rule
}

/// The generation id from a `NEWGEN` reply.
pub fn parse_generation(payload: &[u8]) -> Option<u32> {
    Attrs::of_nfmsg(payload).find(NFTA_GEN_ID).and_then(be_u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::{Batch, SetSpec};
    use crate::expr::{Expr, Verdict};
    use crate::set::Element;
    use crate::wire::Messages;

    /// Our own encoding, read back by our own parser: the two agree on every field.
    #[test]
    fn encoded_objects_parse_back() {
        let mut b = Batch::new(1, None);
        let spec = SetSpec {
            table: "palisade".into(),
            name: "s_v4".into(),
            key: KeyKind::Ipv4ProtoPort,
            interval: true,
            timeout: true,
            default_timeout_ms: Some(60_000),
            dynamic: false,
            size: None,
            comment: Some("palisade: block=drop".into()),
        };
        b.add_set(NFPROTO_INET, &spec, true);
        let e = Element {
            key: Key::with_proto_port(&[10, 0, 0, 0], 6, 22),
            key_end: Some(Key::with_proto_port(&[10, 0, 0, 255], 6, 22)),
            flags: 0,
            timeout_ms: Some(5000),
            comment: Some("ssh"),
        };
        b.add_elements(NFPROTO_INET, "palisade", "s_v4", false, [e]);
        b.add_rule(
            NFPROTO_INET,
            "palisade",
            "c",
            &[Expr::Counter, Expr::Verdict(Verdict::Drop)],
            Some("x"),
        );
        let enc = b.finish();
        let msgs: Vec<_> = Messages::new(&enc.bytes).collect();
        let set = parse_set(msgs[1].1);
        assert_eq!(set.name, "s_v4");
        assert_eq!(set.key, Some(KeyKind::Ipv4ProtoPort));
        assert_eq!(set.default_timeout_ms, Some(60_000));
        assert_eq!(set.comment.as_deref(), Some("palisade: block=drop"));
        assert!(set.is_interval());
        let mut got = Vec::new();
        parse_elements(msgs[2].1, |e| got.push(e));
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].key, e.key);
        assert_eq!(got[0].key_end, e.key_end);
        assert_eq!(got[0].timeout_ms, Some(5000));
        assert_eq!(got[0].comment.as_deref(), Some("ssh"));
        let rule = parse_rule(msgs[3].1);
        assert_eq!(rule.exprs, vec!["counter", "immediate"]);
        assert_eq!(rule.counter, Some((0, 0)));
        assert_eq!(rule.comment.as_deref(), Some("x"));
    }
}
