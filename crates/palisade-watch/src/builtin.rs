//! The built-in jails: where each service logs and the patterns for its failures.
//!
//! Every pattern is anchored at the start of the line (after an optional syslog or journal
//! prefix) and, where the line carries attacker-controlled text before the address (a user
//! name, a request), also at its end with fields that cannot contain spaces. A client that
//! logs in as `x from 6.6.6.6 port 1 ssh2` then cannot make a line accuse 6.6.6.6: the only
//! place the pattern accepts an address is the one sshd itself wrote.
//!
//! The patterns are ASCII-only (`(?-u)`): log formats are, and Unicode classes such as
//! `\S` make automata many times larger and slower.
//!
//! What is left out on purpose:
//! - `Failed publickey for <valid user>`: clients offer every key in the agent, so a
//!   legitimate user with several keys logs several of these before the right one.
//! - sshd's PAM line (`pam_unix(sshd:auth): authentication failure; ... rhost=H`): with
//!   `UsePAM yes` (Debian's default) every wrong password also logs `Failed password`, so
//!   counting both would ban after half of `maxretry`. [`SSHD_PAM`] has it for a custom jail.
//! - Lines for scans before authentication (`Unable to negotiate`, `Connection reset`):
//!   legitimate old clients and monitoring write them too.

use crate::model::Source;

/// Timestamps of classic syslog (`Mar  5 14:39:21`) and of rsyslog's high-precision
/// format (`2024-03-05T14:39:21.123456+01:00`).
const TS: &str = r"(?:[A-Z][a-z]{2} +\d{1,2} \d\d:\d\d:\d\d|\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d\S*)";

/// sshd's line start: a syslog prefix ending in sshd's tag, an RFC 5424 header, the
/// `sshd[123]: ` of `sshd -E`, or nothing (a journal message). After a timestamp the tag
/// is required, so another program's line in the same file never matches.
const SSHD_PREFIX: &str = concat!(
    r"(?-u)^(?:",
    r"(?:[A-Z][a-z]{2} +\d{1,2} \d\d:\d\d:\d\d|\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d\S*) (?:\S+ )?",
    r"(?:sshd(?:-session)?(?:\[\d+\])?:|\[sshd\]:?) ",
    r"|(?:sshd(?:-session)?\[\d+\]:|\[sshd\]:?) ",
    r#"|<\d{1,3}>1 \S+ \S+ sshd(?:-session)? \S+ \S+ (?:-|(?:\[(?:[^\]"]|"(?:[^"\\]|\\.)*")*\])+) "#,
    r")?",
    r"(?:error: |fatal: )?",
    r"(?:\[ID \d+ [\w.]+\] )?",
);

/// The sshd messages, each completed by [`SSHD_PREFIX`] and `$`.
const SSHD_MESSAGES: &[&str] = &[
    // A valid user's name has no spaces, so the address is the one right after it; what
    // follows `: ` (key fingerprints, hostbased client names) may be anything.
    r"Failed (?:password|keyboard-interactive(?:/pam)?|hostbased|gssapi-with-mic) for (?:<invalid username>|\S+) from <HOST>(?: port \d+)?(?: ssh\d?)?(?:: .*)?",
    // An invalid user's name is the client's choice and may contain spaces; the greedy
    // `.*` makes the address the last one, which is sshd's own, and the key info that may
    // follow is one key type and one fingerprint, never text with spaces.
    r"Failed \S+ for invalid user .* from <HOST>(?: port \d+)?(?: ssh\d?)?(?:: [A-Z][A-Za-z0-9-]* \S+)?",
    r"Invalid user .* from <HOST>(?: port \d+)?",
    r"User \S+ from <HOST> not allowed because [a-zA-Z' ]+",
    r"(?:Connection (?:closed|reset) by|Disconnected from) authenticating user .* <HOST> port \d+ \[preauth\]",
    r"maximum authentication attempts exceeded for .* from <HOST> port \d+(?: ssh\d?)? \[preauth\]",
    r"Did not receive identification string from <HOST>(?: port \d+)?",
    r"banner exchange: Connection from <HOST> port \d+: invalid format",
    // What brute-forcing tools say when they give up: Java's JSch (`3: ...: Auth fail`)
    // and known bots (`11: Bye Bye`). One pattern, as every logout has this prefix.
    r"Received disconnect from <HOST>(?: port \d+)?: ?(?:3: .*: Auth fail(?: \[preauth\])?|11: (?:Bye Bye|Normal Shutdown, Thank you for playing) \[preauth\])",
    // A client switching user names within one connection: sshd refuses, bots do it.
    // Both names are the client's, so they may not contain spaces here.
    r"Disconnecting invalid user .* <HOST> port \d+: Change of username or service not allowed: \(\S*\) -> \(\S*\) \[preauth\]",
];

/// sshd's PAM failure line, for admins who run sshd without its own failure lines.
pub const SSHD_PAM: &str = r"pam_unix\(sshd:auth\): authentication failure; logname=\S* uid=\d* euid=\d* tty=\S* ruser=\S* rhost=<HOST>(?: +user=\S*)?";

/// nginx error.log line start (also as the journal shows nginx's stderr).
const NGINX_PREFIX: &str = r"(?-u)^(?:(?:[A-Z][a-z]{2} +\d{1,2} \d\d:\d\d:\d\d )?\S+ nginx(?:\[\d+\])?: (?:\S+ nginx: )?)?\d{4}/\d\d/\d\d \d\d:\d\d:\d\d ";

/// What nginx appends to an error about a request. The request, host and referrer are
/// the client's, but cannot contain spaces, so a user name carrying a fake
/// `, client: 6.6.6.6, server: ...` cannot make this tail match anywhere but at the end.
const NGINX_TAIL: &str = r#", server: \S*, request: "[^"\s]* [^"\s]* HTTP/[\d.]+"(?:, host: "[^"\s]*")?(?:, referrer: "[^"\s]*")?$"#;

const NGINX_AUTH_MESSAGES: &[&str] = &[
    r#"user ".*":? was not found in ".*""#,
    r#"user ".*": password mismatch"#,
    // Logged at `info` level only: with `error_log ... info`, a browser's first request
    // to a protected page (before it asks for a password) writes this too.
    r"no user/password was provided for basic authentication",
    r"PAM: user '.*' - not authenticated: .*",
];

/// Apache 2.4 error log up to the client, which comes before anything the client controls:
/// `[Sun Mar 05 14:39:21.123456 2023] [auth_basic:error] [pid 7:tid 9] [client
/// 192.0.2.1:53452] `. The port is required: without it, an IPv6 address ending in digits
/// and a port could not be told apart (Apache 2.2, which wrote no port, is long gone).
const APACHE_PREFIX: &str = r"(?-u)^(?:(?:[A-Z][a-z]{2} +\d{1,2} \d\d:\d\d:\d\d )?\S+ (?:apache2?|httpd)(?:\[\d+\])?: )?\[[^\]]+\] \[(?:[\w-]+:)?(?:error|warn|notice|info|crit|alert|emerg)\] (?:\[pid \d+(?::tid \d+)?\] )?(?:\[remote [^\]]+\] )?\[client <HOST>:\d+\] ";

const APACHE_AUTH_MESSAGES: &[&str] = &[
    r#"(?:AH01617: )?user .*: authentication failure for ".*": Password Mismatch"#,
    r"(?:AH01618: )?user .* not found: ",
    r"(?:AH01614: )?client used wrong authentication scheme: ",
    r"(?:AH01797: )?client denied by server configuration: ",
    r"(?:AH01790: )?user .* in realm .* not found: ",
];

/// User agents of tools nobody runs against a site they own: address harvesters,
/// vulnerability scanners and internet-wide scanners. Literal spellings (no `(?i)`), so
/// the prefilter can skip every other access log line without running the regex.
const BAD_BOTS: &[&str] = &[
    "TrackBack",
    "EmailCollector",
    "EmailSiphon",
    "EmailWolf",
    "ExtractorPro",
    "WebEMailExtrac",
    "WebBandit",
    "Zeus",
    "ZmEu",
    "Morfeus",
    "sqlmap",
    "Nikto",
    "nikto",
    "masscan",
    "zgrab",
    "Nmap Scripting Engine",
    "WPScan",
    "DirBuster",
    "Havij",
    "Netsparker",
    "Acunetix",
    "acunetix",
];

/// The names [`builtin`] knows.
const NAMES: &[&str] = &[
    "sshd",
    "nginx-http-auth",
    "nginx-limit-req",
    "apache-auth",
    "apache-badbots",
    "postfix-sasl",
];

/// Names of the built-in jails.
pub fn builtin_names() -> &'static [&'static str] {
    NAMES
}

/// A built-in jail's defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Builtin {
    pub source: Source,
    pub patterns: Vec<String>,
}

/// The defaults of the built-in jail `name`, if there is one.
pub fn builtin(name: &str) -> Option<Builtin> {
    let journal = |unit: &str| Source::Journal {
        unit: Some(unit.to_string()),
    };
    let file = |path: &str| Source::File(path.into());
    let (source, patterns) = match name {
        "sshd" => (
            journal("ssh.service"),
            SSHD_MESSAGES
                .iter()
                .map(|m| format!("{SSHD_PREFIX}{m}$"))
                .collect(),
        ),
        "nginx-http-auth" => (
            file("/var/log/nginx/error.log"),
            NGINX_AUTH_MESSAGES
                .iter()
                .map(|m| {
                    format!(
                        r"{NGINX_PREFIX}\[(?:error|info)\] \d+#\d+: \*\d+ {m}, client: <HOST>{NGINX_TAIL}"
                    )
                })
                .collect(),
        ),
        "nginx-limit-req" => (
            file("/var/log/nginx/error.log"),
            vec![format!(
                r#"{NGINX_PREFIX}\[(?:error|warn|notice|info)\] \d+#\d+: \*\d+ limiting requests, excess: [\d.]+ by zone "[^"]*", client: <HOST>,"#
            )],
        ),
        "apache-auth" => (
            file("/var/log/apache2/error.log"),
            APACHE_AUTH_MESSAGES
                .iter()
                .map(|m| format!("{APACHE_PREFIX}{m}"))
                .collect(),
        ),
        "apache-badbots" => (
            file("/var/log/apache2/access.log"),
            vec![format!(
                r#"(?-u)^(?:\S+ )?<HOST> \S+ \S+ \[[^\]]+\] "(?:[^"\\]|\\.)*" \d{{3}} (?:\d+|-) "(?:[^"\\]|\\.)*" "(?:[^"\\]|\\.)*?(?:{})(?:[^"\\]|\\.)*""#,
                BAD_BOTS
                    .iter()
                    .map(|b| regex::escape(b))
                    .collect::<Vec<_>>()
                    .join("|")
            )],
        ),
        "postfix-sasl" => (
            journal("postfix@-.service"),
            // Postfix checks client host names (letters, digits, `.`, `-`), so nothing in
            // `name[ADDR]` is the client's free choice.
            vec![format!(
                r"(?-u)^(?:{TS} \S+ postfix(?:/[\w-]+)+\[\d+\]: )?warning: [\w.-]+\[<HOST>\]: SASL [\w-]+ authentication failed(?::.*)?$"
            )],
        ),
        _ => return None,
    };
    Some(Builtin { source, patterns })
}
