//! Asking the kernel which XDP programs an interface runs, in which mode: the bytes of one
//! rtnetlink `RTM_GETLINK` request and the parsing of its answer.
//!
//! Why rtnetlink: a BPF link says which program it holds but not whether the driver or the
//! generic path runs it; `ip link` reads the same `IFLA_XDP` attributes used here. The kernel
//! reports, per mode, the id of the program attached, so `status` tells native from generic and
//! notices a program that is not palisade's. The socket lives in `sys::netlink`.

/// `RTM_GETLINK`, `RTM_NEWLINK`, `NLMSG_ERROR`, `NLM_F_REQUEST` from linux/rtnetlink.h and
/// linux/netlink.h.
const RTM_GETLINK: u16 = 18;
const RTM_NEWLINK: u16 = 16;
const NLMSG_ERROR: u16 = 2;
const NLM_F_REQUEST: u16 = 1;
/// `IFLA_IFNAME`, `IFLA_XDP` and the `IFLA_XDP_*` attributes from linux/if_link.h.
const IFLA_IFNAME: u16 = 3;
const IFLA_XDP: u16 = 43;
const IFLA_XDP_DRV_PROG_ID: u16 = 5;
const IFLA_XDP_SKB_PROG_ID: u16 = 6;
const IFLA_XDP_HW_PROG_ID: u16 = 7;
/// Attribute type bits that flag nesting and byte order, not the type itself.
const NLA_TYPE_MASK: u16 = 0x3fff;
const NLMSG_HDR: usize = 16;
const IFINFOMSG: usize = 16;

/// The request for one interface's attributes: `nlmsghdr` + `ifinfomsg`.
pub fn getlink_request(ifindex: u32, seq: u32) -> [u8; NLMSG_HDR + IFINFOMSG] {
    let mut m = [0u8; NLMSG_HDR + IFINFOMSG];
    m[0..4].copy_from_slice(&((NLMSG_HDR + IFINFOMSG) as u32).to_ne_bytes());
    m[4..6].copy_from_slice(&RTM_GETLINK.to_ne_bytes());
    m[6..8].copy_from_slice(&NLM_F_REQUEST.to_ne_bytes());
    m[8..12].copy_from_slice(&seq.to_ne_bytes());
    // ifinfomsg: family AF_UNSPEC (0), type 0, then the index.
    m[20..24].copy_from_slice(&(ifindex as i32).to_ne_bytes());
    m
}

/// Which XDP program runs in each mode on an interface (program ids; `None` when no program
/// is attached in that mode).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XdpPrograms {
    pub driver: Option<u32>,
    pub generic: Option<u32>,
    pub offload: Option<u32>,
}

/// What the kernel answered about one interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkReply {
    Link {
        name: String,
        xdp: XdpPrograms,
    },
    /// The kernel refused the request with this errno (ENODEV: no such interface).
    Error(i32),
}

/// Parse the answer to [`getlink_request`] with sequence number `seq`. Never panics; a reply
/// that does not parse is an error message, not a guess.
pub fn parse_reply(buf: &[u8], seq: u32) -> Result<LinkReply, String> {
    let mut rest = buf;
    while rest.len() >= NLMSG_HDR {
        let len = u32_at(rest, 0) as usize;
        if len < NLMSG_HDR || len > rest.len() {
            return Err(format!("netlink message length {len} out of bounds"));
        }
        let kind = u16::from_ne_bytes([rest[4], rest[5]]);
        let msg_seq = u32_at(rest, 8);
        let body = &rest[NLMSG_HDR..len];
        if msg_seq == seq {
            return match kind {
                NLMSG_ERROR if body.len() >= 4 => Ok(LinkReply::Error(-(u32_at(body, 0) as i32))),
                RTM_NEWLINK if body.len() >= IFINFOMSG => parse_link(&body[IFINFOMSG..]),
                _ => Err(format!("unexpected netlink message type {kind}")),
            };
        }
        rest = &rest[align4(len).min(rest.len())..];
    }
    Err("no answer to the link request".into())
}

fn parse_link(attrs: &[u8]) -> Result<LinkReply, String> {
    let mut name = String::new();
    let mut xdp = XdpPrograms::default();
    for (kind, payload) in attributes(attrs)? {
        match kind {
            IFLA_IFNAME => {
                let end = payload
                    .iter()
                    .position(|&b| b == 0)
                    .unwrap_or(payload.len());
                name = String::from_utf8_lossy(&payload[..end]).into_owned();
            }
            IFLA_XDP => {
                for (k, p) in attributes(payload)? {
                    let id = (p.len() >= 4).then(|| u32_at(p, 0)).filter(|&id| id != 0);
                    match k {
                        IFLA_XDP_DRV_PROG_ID => xdp.driver = id,
                        IFLA_XDP_SKB_PROG_ID => xdp.generic = id,
                        IFLA_XDP_HW_PROG_ID => xdp.offload = id,
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    Ok(LinkReply::Link { name, xdp })
}

/// The `(type, payload)` pairs of a run of netlink attributes.
fn attributes(mut buf: &[u8]) -> Result<Vec<(u16, &[u8])>, String> {
    let mut out = Vec::new();
    while buf.len() >= 4 {
        let len = usize::from(u16::from_ne_bytes([buf[0], buf[1]]));
        if len < 4 || len > buf.len() {
            return Err(format!("netlink attribute length {len} out of bounds"));
        }
        let kind = u16::from_ne_bytes([buf[2], buf[3]]) & NLA_TYPE_MASK;
        out.push((kind, &buf[4..len]));
        buf = &buf[align4(len).min(buf.len())..];
    }
    Ok(out)
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn attr(kind: u16, payload: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&((4 + payload.len()) as u16).to_ne_bytes());
        v.extend_from_slice(&kind.to_ne_bytes());
        v.extend_from_slice(payload);
        v.resize(align4(v.len()), 0);
        v
    }

    fn message(kind: u16, seq: u32, body: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&((NLMSG_HDR + body.len()) as u32).to_ne_bytes());
        v.extend_from_slice(&kind.to_ne_bytes());
        v.extend_from_slice(&0u16.to_ne_bytes());
        v.extend_from_slice(&seq.to_ne_bytes());
        v.extend_from_slice(&0u32.to_ne_bytes());
        v.extend_from_slice(body);
        v
    }

    #[test]
    fn the_request_names_the_interface() {
        let r = getlink_request(7, 42);
        assert_eq!(u32_at(&r, 0), 32);
        assert_eq!(u16::from_ne_bytes([r[4], r[5]]), RTM_GETLINK);
        assert_eq!(u32_at(&r, 8), 42);
        assert_eq!(u32_at(&r, 20), 7);
    }

    #[test]
    fn modes_and_name_are_read_from_the_link_answer() {
        let mut xdp = attr(2, &[2]); // IFLA_XDP_ATTACHED: generic
        xdp.extend(attr(IFLA_XDP_SKB_PROG_ID, &55u32.to_ne_bytes()));
        let mut body = vec![0u8; IFINFOMSG];
        body.extend(attr(IFLA_IFNAME, b"veth0\0"));
        body.extend(attr(IFLA_XDP | 0x8000, &xdp));
        let got = parse_reply(&message(RTM_NEWLINK, 9, &body), 9).unwrap();
        assert_eq!(
            got,
            LinkReply::Link {
                name: "veth0".into(),
                xdp: XdpPrograms {
                    generic: Some(55),
                    ..Default::default()
                }
            }
        );
    }

    #[test]
    fn errors_and_other_sequence_numbers_are_told_apart() {
        let err = message(NLMSG_ERROR, 3, &(-libc::ENODEV).to_ne_bytes());
        assert_eq!(parse_reply(&err, 3), Ok(LinkReply::Error(libc::ENODEV)));
        assert!(parse_reply(&err, 4).is_err());
        assert!(parse_reply(&[], 1).is_err());
    }

    proptest! {
        #[test]
        fn never_panics(buf in prop::collection::vec(any::<u8>(), 0..300), seq: u32) {
            let _ = parse_reply(&buf, seq);
        }
    }
}
