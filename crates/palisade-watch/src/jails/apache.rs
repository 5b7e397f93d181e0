//! Apache httpd: `apache-auth` (with `mode = "aggressive"`), `apache-badbots`,
//! `apache-botsearch`, `apache-noscript`, `apache-overflows`, `apache-shellshock`,
//! `apache-nohome`, `apache-modsecurity`, `apache-fakegooglebot`.
//!
//! Error log lines start with the time, the module and level, the process, and the client
//! (`[client ADDR:PORT]` in 2.4, `[client ADDR]` in 2.2, IPv6 with or without brackets)
//! before anything the client sent: what follows may be anything (user names, paths
//! from the URL, referers). Access log lines start with the client's address.

use super::prefix::syslog_head;
use super::{file, rules, Builtin, Family, JailRule, Kind, PROBED};

pub(super) const FAMILY: Family = Family {
    jails: &[
        ("apache-auth", &["normal", "aggressive"]),
        ("apache-badbots", &["normal"]),
        ("apache-botsearch", &["normal"]),
        ("apache-noscript", &["normal"]),
        ("apache-overflows", &["normal"]),
        ("apache-shellshock", &["normal"]),
        ("apache-nohome", &["normal"]),
        ("apache-modsecurity", &["normal"]),
        ("apache-fakegooglebot", &["normal"]),
    ],
    build,
};

const ERROR_LOG: &str = "/var/log/apache2/error.log";
const ACCESS_LOG: &str = "/var/log/apache2/access.log";

/// Program names Apache logs under through syslog (`httpd/backend1` for a named instance).
const IDENT: &str = r"apache\d*|httpd(?:/[\w.-]+)?";

/// An error log line up to the client's address: Apache's own time (or a syslog prefix
/// instead), `[module:level]` (`[level]` in 2.2), the process, the `[remote ...]` a proxy
/// adds, then the client. `modules` restricts the module (mod_evasive's refusals are not
/// authentication failures).
fn error_prefix(modules: &str) -> String {
    format!(
        r"(?-u)^(?:{}|\[[^\]]+\] )\[(?:{modules})?(?:emerg|alert|crit|error|warn|notice|info|debug|trace\d)\] (?:\[pid \d+(?::tid \d+)?\] )?(?:\[remote [^\]]+\] )?\[client \[?<HOST>\]?(?::\d{{1,5}})?\] (?:AH\d{{5}}: )?",
        syslog_head(IDENT)
    )
}

/// Any module, or none (2.2).
const ANY_MODULE: &str = r"[\w-]*:";

/// What a line about a request may end with.
const REFERER: &str = r"(?:, referer: .*)? *$";

/// The authentication modules' refusals (Basic and Digest, 2.2 and 2.4), the
/// authorization modules', and mod_ssl's for a name the client did not give.
const AUTH: &[&str] = &[
    r#"(?:Digest: )?user .*: (?:authentication failure for ".*": Password Mismatch|authorization failure for ".*": .*|password mismatch: .*)"#,
    r"user .* (?:not found|denied by provider)(?:: .*)?",
    r"(?:Digest: )?user `.*' in realm `.*' (?:not found|denied by provider)(?:: .*)?",
    r"Authorization of user .* to access .* failed(?:, reason: .*)?",
    r"client (?:denied by server configuration|used wrong authentication scheme)(?:: .*)?",
    r"(?:Digest: )?invalid nonce .* received - (?:length is not \d+|user attempted time travel)",
    r"(?:Digest: )?realm mismatch - got `.*' but expected `.*'",
    r"(?:Digest: )?unknown algorithm `.*' received(?:: .*)?",
    r"(?:Digest: )?invalid qop `.*' received(?:: .*)?",
    r"(?:No h|H)ostname .* provided via SNI(?:, but no hostname provided| and hostname .* provided| for a name based virtual host).*",
];

/// Modules whose refusals are authentication failures (mod_evasive's are not: it
/// refuses clients that make too many requests, which aggressive mode counts).
const AUTH_MODULES: &str = r"(?:auth[\w-]*|access_compat|ssl|core|):";

/// User agents of tools nobody runs against a site they own: address harvesters,
/// vulnerability scanners and internet-wide scanners. Literal spellings (no `(?i)`), so
/// the prefilter can skip every other access log line without running the regex.
const BAD_BOTS: &[&str] = &[
    "TrackBack",
    "EmailCollector",
    "EmailSiphon",
    "EmailWolf",
    "EmailSpider",
    "ExtractorPro",
    "WebEMailExtrac",
    "Atomic_Email_Hunter",
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
    "Jorgee",
];

/// A quoted access log field: Apache writes `"` in it as `\"`, nginx as `\x22`, so the
/// field is all the text up to the first `"` that no backslash escapes.
const QUOTED: &str = r#""(?:[^"\\]|\\.)*""#;

/// An access log line (Apache's `combined`, with or without the virtual host first, or
/// with `%l %u` followed by one more field; nginx's `combined`) from a client whose user
/// agent claims to be Googlebot (`Googlebot/2.1`, `Googlebot-Image/1.0`). The claim is the
/// client's own text, anywhere in the user agent; whether the address is Google's is the
/// daemon's to check, against the set the jail's `genuine` option names.
fn fake_googlebot() -> String {
    format!(
        r#"(?-u)^(?:\S+ )?<HOST> \S+ \S+(?: \S+)? \[[^\]]+\](?: \S+)? {QUOTED} \d{{3}} (?:\d+|-) {QUOTED} "(?:[^"\\]|\\.)*?\bGooglebot(?:-[A-Za-z]+)?/(?:[^"\\]|\\.)*"(?: .*)?$"#
    )
}

fn build(name: &str, mode: &str) -> Option<Builtin> {
    let any = |m: &str| format!("{}{m}", error_prefix(ANY_MODULE));
    let (source, rules) = match name {
        "apache-auth" => {
            let modules = if mode == "aggressive" {
                ANY_MODULE
            } else {
                AUTH_MODULES
            };
            let prefix = error_prefix(modules);
            let all = rules(Kind::Failure, AUTH.iter().copied(), |m| {
                format!("{prefix}{m}{REFERER}")
            });
            (file(ERROR_LOG), all)
        }
        "apache-badbots" => (
            file(ACCESS_LOG),
            vec![JailRule::failure(format!(
                r#"(?-u)^(?:\S+ )?<HOST> \S+ \S+ \[[^\]]+\] "(?:[^"\\]|\\.)*" \d{{3}} (?:\d+|-) "(?:[^"\\]|\\.)*" "(?:[^"\\]|\\.)*?(?:{})(?:[^"\\]|\\.)*""#,
                BAD_BOTS
                    .iter()
                    .map(|b| regex::escape(b))
                    .collect::<Vec<_>>()
                    .join("|")
            ))],
        ),
        "apache-botsearch" => {
            // The file is the document root and the URL's path: a probed name must be a
            // whole path segment.
            let path = format!(r"\S*/(?:(?:typo3|xampp|admin)/)?{PROBED}(?:/.*)?");
            (
                file(ERROR_LOG),
                rules(
                    Kind::Failure,
                    [
                        format!(r"(?:File does not exist|script not found or unable to stat): {path}{REFERER}"),
                        format!(r"script '{path}' not found or unable to stat{REFERER}"),
                    ]
                    .iter()
                    .map(String::as_str),
                    any,
                ),
            )
        }
        "apache-noscript" => {
            // Scripts (PHP, ASP, Perl, executables, CGI) that do not exist.
            let script = r"\S*(?:php[45]?|php[.-]cgi|\.asp|\.exe|\.pl|/cgi-bin/)\S*";
            (
                file(ERROR_LOG),
                rules(
                    Kind::Failure,
                    [
                        format!(r"(?:File does not exist|script not found or unable to stat): {script}{REFERER}"),
                        format!(r"script '{script}' not found or unable to stat{REFERER}"),
                        format!(r"Got error 'Primary script unknown(?:\\n)?'{REFERER}"),
                    ]
                    .iter()
                    .map(String::as_str),
                    any,
                ),
            )
        }
        "apache-overflows" => (
            file(ERROR_LOG),
            vec![JailRule::failure(any(
                r"(?:Invalid (?:method|URI) in request .*|request failed: URI too long \(longer than \d+\)|request failed: erroneous characters after protocol string: .*|request failed: invalid characters in URI.*)",
            ))],
        ),
        "apache-shellshock" => (
            file(ERROR_LOG),
            vec![JailRule::failure(any(&format!(
                r"/bin/(?:ba|da)?sh: (?:warning: HTTP_[^:]+: ignoring function definition attempt|error importing function definition for `HTTP_[^']+'){REFERER}"
            )))],
        ),
        "apache-nohome" => (
            file(ERROR_LOG),
            vec![JailRule::failure(any(&format!(
                r"File does not exist: .*/~.*{REFERER}"
            )))],
        ),
        "apache-modsecurity" => (
            file(ERROR_LOG),
            // mod_security repeats the client; its rule data is the request's.
            vec![JailRule::failure(any(
                r"(?:\[client [^\]]+\] )?ModSecurity: .*Access denied with code [45]\d\d.*",
            ))],
        ),
        "apache-fakegooglebot" => (file(ACCESS_LOG), vec![JailRule::failure(fake_googlebot())]),
        _ => return None,
    };
    Some(Builtin::each_line(source, rules))
}
