//! The one error type of the core.
//!
//! Every message is written for the admin reading it at 3am: it says what is
//! wrong with their input and, where there is one, what to do about it. The
//! offending text itself is not repeated here because callers (such as
//! [`crate::LineError`]) already show it next to the message.

/// Why an address, element, list line, duration or format name was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error("empty; expected an IP address or network")]
    Empty,

    #[error("not an IP address or network")]
    NotAnAddress,

    #[error("host bits set; the network is {canonical}")]
    HostBitsSet { canonical: String },

    #[error("`{0}` is not a valid prefix length")]
    BadPrefix(String),

    #[error("prefix length {len} is too long for {family} (at most {max})")]
    PrefixTooLong {
        len: u32,
        family: crate::Family,
        max: u32,
    },

    #[error("range start {first} comes after its end {last}")]
    RangeReversed { first: String, last: String },

    #[error("range mixes IPv4 and IPv6 addresses")]
    MixedFamilies,

    #[error("a port was given, but this set holds addresses only")]
    UnexpectedPort,

    #[error("a port is required (e.g. 192.0.2.1,tcp:22 or 192.0.2.1 . 22)")]
    MissingPort,

    #[error("port `{0}` is not a number from 0 to 65535")]
    BadPort(String),

    #[error("unknown protocol `{0}` (expected tcp, udp or sctp)")]
    UnknownProtocol(String),

    #[error("unexpected `{0}` after the element")]
    TrailingText(String),

    #[error("`{0}` is not supported")]
    Unsupported(&'static str),

    #[error("unknown ipset command `{0}` (expected create or add)")]
    UnknownIpsetCommand(String),

    #[error("`add` line without a set name and element")]
    MissingElement,

    #[error("option `{option}` needs a value")]
    MissingOptionValue { option: String },

    #[error("option `{option}` has a bad value `{value}`")]
    BadOptionValue { option: String, value: String },

    #[error("a quoted string has no closing quote")]
    UnterminatedQuote,

    #[error("not a duration (use e.g. 600, 90s, 10m, 1h30m, 2d or 500ms)")]
    BadDuration,

    #[error("duration is too long")]
    DurationTooLong,

    #[error(
        "unknown list format `{0}` (expected auto, plain, netset, ipset, spamhaus, ipset-save or json)"
    )]
    UnknownFormat(String),

    #[error(
        "no line end in the first {limit} bytes: not a text list (a binary file or a device?)"
    )]
    NoLineEnd { limit: usize },

    #[error("line is longer than {max} bytes (is this a text list?)")]
    LineTooLong { max: usize },

    #[error("line is not valid UTF-8 (is this a text list?)")]
    NotUtf8,

    #[error("not a JSON IP-range document: {0} (expected {{\"prefixes\": [{{\"ipv4Prefix\": \"192.0.2.0/24\"}}, ...]}}, as Google publishes)")]
    BadJson(String),

    #[error("JSON document has no `prefixes` list: not an IP-range document (expected {{\"prefixes\": [{{\"ipv4Prefix\": \"192.0.2.0/24\"}}, ...]}}, as Google publishes)")]
    NoPrefixes,

    #[error("a `prefixes` entry needs exactly one of `ipv4Prefix` and `ipv6Prefix`")]
    PrefixKeys,

    #[error("`{key}` holds a network of the other address family")]
    PrefixFamily { key: &'static str },

    #[error("JSON document is larger than {max} bytes: not an IP-range list")]
    JsonTooLarge { max: u64 },

    #[error("read error: {0}")]
    Io(String),
}
