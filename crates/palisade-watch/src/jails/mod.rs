//! The built-in jails: where each service logs, the lines that are failures, and how lines
//! of one connection belong together. Written by us and tested on lines we wrote (each
//! family's tests), one file per family of services.
//!
//! Every rule is a model of a line the daemon writes: its fixed text is the daemon's, and
//! every field the client chooses (a user name, a URL, a user agent, what follows `ssh2: `)
//! is a wildcard as wide as the client can make it (`.*`, or `[^"]*` where the daemon
//! escapes quotes). The matcher then accuses an address only when every reading of the
//! line puts the same address where the daemon writes it (see `matcher::split`): the
//! address comes from where the daemon wrote it, never from client-controlled text, by
//! construction rather than by guessing which hostile text to expect.
//!
//! The rules are ASCII-only (`(?-u)`): log formats are, and Unicode classes such as `\S`
//! make automata many times larger and slower.

mod apache;
mod db;
mod ftp;
mod mail;
mod nginx;
pub(crate) mod prefix;
mod ssh;

#[cfg(test)]
mod tests;

use crate::model::{JournalMatch, Source};

/// What a line matching a rule means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A failure of the address in the line.
    Failure,
    /// A failure of the address in the line, which also ends its connection.
    FailureEnd,
    /// A failure told without an address: it is the connection's (from an earlier line of
    /// the same connection, or the next one that names it).
    Hostless,
    /// A failure that the daemon usually also tells in a [`Kind::Failure`] line of the
    /// same connection (PAM's `authentication failure` before sshd's `Failed password`):
    /// it counts only if no such line follows before the connection ends.
    Soft,
    /// No failure: says which address a connection has.
    Address,
    /// No failure: the connection ended (a disconnect, a login).
    End,
}

/// One rule of a built-in jail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JailRule {
    /// A regex; with `<HOST>` where the address is, but for [`Kind::Hostless`].
    pub pattern: String,
    pub kind: Kind,
}

/// A built-in jail's defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Builtin {
    pub source: Source,
    pub rules: Vec<JailRule>,
    /// How a line names the connection it belongs to, if the jail follows connections.
    pub session: Option<SessionSpec>,
    /// Lines matching any of these never count (what the daemon says when the fault is
    /// its own, such as a lost authentication server).
    pub ignore: Vec<String>,
}

impl Builtin {
    /// A jail whose every line stands on its own: no connections followed, nothing
    /// ignored.
    fn each_line(source: Source, rules: Vec<JailRule>) -> Self {
        Self {
            source,
            rules,
            session: None,
            ignore: Vec::new(),
        }
    }
}

impl JailRule {
    /// A failure of the address at `<HOST>`.
    fn failure(pattern: String) -> Self {
        Self {
            pattern,
            kind: Kind::Failure,
        }
    }
}

/// Where a line names its connection: after `skip` (matched at the start of the line, and
/// possibly empty), the text `key` matches. Both are anchored, so only the daemon's own
/// prefix is ever read (the host and process id of sshd's syslog prefix, postfix's queue
/// id), never text a client wrote further on; and both are plain DFA searches, cheap
/// enough for every line of an attack.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionSpec {
    pub skip: String,
    pub key: String,
}

/// One family's table: names, the modes each knows, and the jail for a name and mode.
struct Family {
    jails: &'static [(&'static str, &'static [&'static str])],
    build: fn(&str, &str) -> Option<Builtin>,
}

const FAMILIES: &[Family] = &[
    ssh::FAMILY,
    nginx::FAMILY,
    apache::FAMILY,
    mail::FAMILY,
    ftp::FAMILY,
    db::FAMILY,
];

/// Path segments only scanners ask for: admin tools, webmail, leaked files and scripts
/// (phpMyAdmin's name starts many variants: `pma`, `phpMyAdmin-2.8.2.3`).
pub(crate) const PROBED: &str = r#"(?:(?:pma|(?:php)?[Mm]y[Aa]dmin)[^/\s"',?]*|mysqladmin|wp-(?:login|signup)\.php|(?:ext)?mail|(?:v-?)?webmail|roundcube|horde|\.env|\.git|cgi-bin)"#;

/// The mode a jail uses when none is given.
pub const DEFAULT_MODE: &str = "normal";

/// Names of the built-in jails, in the order of the families.
pub fn builtin_names() -> Vec<&'static str> {
    FAMILIES
        .iter()
        .flat_map(|f| f.jails.iter().map(|(n, _)| *n))
        .collect()
}

/// The modes jail `name` knows (`normal` first), if it is built in.
pub fn builtin_modes(name: &str) -> Option<&'static [&'static str]> {
    FAMILIES
        .iter()
        .flat_map(|f| f.jails.iter())
        .find(|(n, _)| *n == name)
        .map(|(_, modes)| *modes)
}

/// The defaults of the built-in jail `name` in `mode`, if there is such a jail and mode.
pub fn builtin(name: &str, mode: &str) -> Option<Builtin> {
    let family = FAMILIES
        .iter()
        .find(|f| f.jails.iter().any(|(n, _)| *n == name))?;
    if !builtin_modes(name)?.contains(&mode) {
        return None;
    }
    (family.build)(name, mode)
}

/// Jails whose lines tell a claim only an outside list can refute (a user agent saying
/// Googlebot): they need `genuine = "SET"`, the networks of the genuine party, or they
/// would ban it.
const GENUINE_REQUIRED: &[&str] = &["apache-fakegooglebot"];

/// Whether jail `name` must name its genuine set (see [`GENUINE_REQUIRED`]).
pub fn genuine_required(name: &str) -> bool {
    GENUINE_REQUIRED.contains(&name)
}

/// Rules of one kind, each pattern completed by `make`.
fn rules<'a>(
    kind: Kind,
    patterns: impl IntoIterator<Item = &'a str>,
    make: impl Fn(&str) -> String,
) -> Vec<JailRule> {
    patterns
        .into_iter()
        .map(|p| JailRule {
            pattern: make(p),
            kind,
        })
        .collect()
}

/// The journal of these systemd units.
fn journal(units: &[&str]) -> Source {
    Source::Journal(JournalMatch {
        units: units.iter().map(|u| u.to_string()).collect(),
        identifiers: Vec::new(),
    })
}

fn file(path: &str) -> Source {
    Source::File(path.into())
}
