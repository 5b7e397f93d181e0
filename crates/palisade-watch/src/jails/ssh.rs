//! OpenSSH's sshd: `sshd` (with `mode = "aggressive"`).
//!
//! **normal** counts what is a failed login by any reading: wrong passwords and keys of
//! users that do not exist, refused users, exhausted attempts, known brute-force tools
//! giving up, and one connection's failures told over several lines (sshd's process id
//! names the connection: `Connection from A` then `Disconnecting: Too many authentication
//! failures`, or PAM's failure line followed by the disconnect).
//! **aggressive** adds what scanners do before authenticating: connections that never
//! say hello, garbage instead of a protocol banner, no common cipher, no usable method.
//! Legitimate old clients and monitoring probes write those too, hence not by default.
//!
//! What is left out on purpose:
//! - `Failed publickey for <valid user>`: clients offer every key in the agent, so a
//!   legitimate user with several keys logs several of these before the right one.
//! - PAM's `authentication failure` line on its own: with `UsePAM yes` (Debian's default)
//!   every wrong password also logs `Failed password`, so it counts only when no such
//!   line follows on the same connection ([`Kind::Soft`]).

use super::prefix::{syslog, syslog_session};
use super::{journal, rules, Builtin, Family, JailRule, Kind};

pub(super) const FAMILY: Family = Family {
    jails: &[("sshd", &["normal", "aggressive"])],
    build,
};

/// The program names sshd logs under (OpenSSH 9.8 split off `sshd-session`).
const IDENT: &str = r"sshd(?:-session)?";

/// A port, a protocol version, the `[preauth]` mark sshd adds before authentication, and
/// the end of the line (some versions leave a space).
const PORT: &str = r"(?: port \d+)?";
const SSH: &str = r"(?: ssh\d?)?";
const PREAUTH: &str = r"(?: \[preauth\])?";
const END: &str = r" *$";

/// sshd's authentication methods, but `publickey` (see the module's notes).
const METHODS: &str = r"(?:password|keyboard-interactive(?:/[\w-]+)?|hostbased|gssapi-with-mic|gssapi-keyex|none|unknown)";

fn failures() -> Vec<String> {
    vec![
        // An invalid user's name is the client's choice (anything), and so is what follows
        // `ssh2: ` (a hostbased client's user name); a valid user's name is taken as
        // anything too, so a line two ways of reading could split accuses nobody.
        format!(
            r"Failed (?:{METHODS} for .*|publickey for invalid user .*) from <HOST>{PORT}{SSH}(?:: .*)?{END}"
        ),
        format!(r"(?:Invalid|Illegal) user .* from <HOST>{PORT}{END}"),
        format!(
            r"User \S+ from <HOST> not allowed because (?:not listed in AllowUsers|listed in DenyUsers|not in any group|a group is listed in DenyGroups|none of user's groups are listed in AllowGroups){PREAUTH}{END}"
        ),
        format!(
            r"maximum authentication attempts exceeded for .* from <HOST>{PORT}{SSH}{PREAUTH}{END}"
        ),
        format!(r"ROOT LOGIN REFUSED FROM <HOST>{PORT}{PREAUTH}{END}"),
        // TCP wrappers: the part before the address is `user@host`, the user from ident.
        format!(r"refused connect from .* \(<HOST>\){END}"),
        // PAM's own messages through sshd (`error: PAM: ...`).
        format!(
            r"[aA]uthentication (?:failure|error|failed) for .* from <HOST>(?: via \S+)?{PORT}{SSH}{PREAUTH}{END}"
        ),
        format!(
            r"User not known to the underlying authentication module for .* from <HOST>{PORT}{PREAUTH}{END}"
        ),
    ]
}

/// Failures that end the connection.
fn failure_ends() -> Vec<String> {
    vec![
        // The client gave up (or was cut off) while authenticating as a user.
        format!(
            r"(?:Connection (?:closed|reset) by|Disconnected from) (?:authenticating|invalid) user .* <HOST>{PORT} \[preauth\]{END}"
        ),
        format!(
            r"Disconnecting (?:authenticating|invalid) user .* <HOST>{PORT}: Too many authentication failures{PREAUTH}{END}"
        ),
        // Bots switching user names within one connection; both names are the client's.
        format!(
            r"Disconnecting (?:authenticating|invalid) user .* <HOST>{PORT}: Change of username or service not allowed: \(.*\) -> \(.*\) \[preauth\]{END}"
        ),
        // What brute-forcing tools say when they give up: Java's JSch (`3: ...: Auth
        // fail`) and known bots (`11: Bye Bye`); the text is the client's.
        format!(
            r"Received disconnect from <HOST>{PORT}: ?(?:3: .*: Auth fail{PREAUTH}|11: (?:Bye Bye|Normal Shutdown, Thank you for playing) \[preauth\]){END}"
        ),
    ]
}

/// Failures whose line has no address: the connection's.
const HOSTLESS: &[&str] = &[
    r"User \S+ not allowed because account is locked",
    r"Disconnecting: Too many authentication failures(?: for .*)?",
];

/// What scanners do before authenticating (aggressive only).
fn scans() -> Vec<String> {
    vec![
        format!(r"Did not receive identification string from <HOST>{PORT}{END}"),
        format!(r"Bad protocol version identification '.*' from <HOST>{PORT}{END}"),
        format!(r"banner exchange: Connection from <HOST>{PORT}: invalid format{END}"),
        // The client's offer is the client's text.
        format!(r"Unable to negotiate with <HOST>{PORT}: no matching .* found\..*{END}"),
        format!(
            r"Received disconnect from <HOST>{PORT}: ?14: No(?: supported)? authentication methods available{PREAUTH}{END}"
        ),
        format!(
            r"(?:Connection (?:closed|reset) by|Disconnected from) <HOST>{PORT} \[preauth\]{END}"
        ),
    ]
}

/// Scanners' failures without an address (aggressive only).
const HOSTLESS_SCANS: &[&str] = &[
    r"kex_exchange_identification: .*",
    r"Read from socket failed: Connection reset by peer",
    r"Unable to negotiate a [\w ]+",
    r"no matching [\w ]+ found: .*",
];

/// Lines that only tell a connection's address, and its end.
fn addresses() -> Vec<String> {
    vec![
        format!(r"Connection from <HOST> port \d+(?: on \S+ port \d+)?(?: rdomain .*)?{END}"),
        format!(r"SSH: Server;Ltype: \w+;Remote: <HOST>-\d+;.*{END}"),
    ]
}

fn ends() -> Vec<String> {
    vec![
        format!(
            r"(?:Connection (?:closed|reset) by|Disconnected from(?: user \S+)?) <HOST>{PORT}{PREAUTH}{END}"
        ),
        format!(r"Received disconnect from <HOST>{PORT}: ?\d+: .*{END}"),
        format!(r"Accepted \S+ for \S+ from <HOST>{PORT}{SSH}(?:: .*)?{END}"),
    ]
}

/// PAM's failure line, usually followed by sshd's own `Failed password` ([`Kind::Soft`]).
fn soft() -> Vec<String> {
    vec![format!(
        r"pam_[a-z]+\(sshd:auth\): +authentication failure; logname=\S* uid=\d* euid=\d* tty=\S* ruser=.* rhost=<HOST>(?: +user=.*)?{PREAUTH}{END}"
    )]
}

fn build(_name: &str, mode: &str) -> Option<Builtin> {
    let prefix = format!("{}(?:(?:error|fatal): (?:PAM: )?)?", syslog(IDENT, true));
    let whole = |m: &str| format!("{prefix}{m}");
    let hostless = |m: &str| format!("{prefix}{m}{PREAUTH}{END}");
    let aggressive = mode == "aggressive";
    let mut all: Vec<JailRule> = Vec::new();
    all.extend(rules(
        Kind::Failure,
        failures().iter().map(String::as_str),
        whole,
    ));
    all.extend(rules(
        Kind::FailureEnd,
        failure_ends().iter().map(String::as_str),
        whole,
    ));
    all.extend(rules(Kind::Hostless, HOSTLESS.iter().copied(), hostless));
    if aggressive {
        all.extend(rules(
            Kind::FailureEnd,
            scans().iter().map(String::as_str),
            whole,
        ));
        all.extend(rules(
            Kind::Hostless,
            HOSTLESS_SCANS.iter().copied(),
            hostless,
        ));
    }
    all.extend(rules(Kind::Soft, soft().iter().map(String::as_str), whole));
    all.extend(rules(
        Kind::Address,
        addresses().iter().map(String::as_str),
        whole,
    ));
    all.extend(rules(Kind::End, ends().iter().map(String::as_str), whole));
    Some(Builtin {
        source: journal(&["ssh.service", "sshd.service"]),
        rules: all,
        session: Some(syslog_session(IDENT)),
        ignore: Vec::new(),
    })
}
