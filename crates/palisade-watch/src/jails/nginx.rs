//! nginx: `nginx-http-auth` (with `mode = "aggressive"`), `nginx-limit-req`,
//! `nginx-botsearch`, `nginx-bad-request`.
//!
//! Error log lines end with what nginx knows of the request: `client: ADDR, server: NAME,
//! request: "GET / HTTP/1.1", host: "HOST", referrer: "URL"`. The request line and the
//! Host header reach an authentication or a rate limit only once nginx parsed them, so
//! they have no spaces; the referrer is the client's free text, and so is a user name, so
//! both are wildcards. Access log fields are quoted with `"` escaped by nginx (`\x22`).

use super::prefix::syslog;
use super::{file, rules, Builtin, Family, JailRule, Kind, PROBED};

pub(super) const FAMILY: Family = Family {
    jails: &[
        ("nginx-http-auth", &["normal", "aggressive"]),
        ("nginx-limit-req", &["normal"]),
        ("nginx-botsearch", &["normal"]),
        ("nginx-bad-request", &["normal"]),
    ],
    build,
};

const ERROR_LOG: &str = "/var/log/nginx/error.log";
const ACCESS_LOG: &str = "/var/log/nginx/access.log";

/// An error log line's start (nginx writes its own time; through syslog or the journal
/// the logging system's prefix comes first and nginx's time may be missing), up to the
/// connection number.
fn error_prefix(levels: &str) -> String {
    format!(
        r"{}(?:\d{{4}}/\d\d/\d\d \d\d:\d\d:\d\d )?\[(?:{levels})\] \d+#\d+: \*\d+ ",
        syslog("nginx", true)
    )
}

/// What follows the client's address in an error log line.
const TAIL: &str = r#", server: \S*(?:, request: "[^"\s]* [^"\s]* HTTP/[\d.]+")?(?:, (?:subrequest|upstream): "[^"]*")*(?:, host: "[^"\s]*")?(?:, referrer: ".*")? *$"#;

/// An access log line up to the request: the client's address first (after a virtual
/// host name, in the `vhost_combined` style), the user from Basic authentication (no
/// spaces: nginx would refuse the header) and the time.
fn access_prefix() -> String {
    format!(
        r"{}(?:\S+ )?<HOST> - \S+ \[[^\]]+\] ",
        syslog("nginx", true)
    )
}

/// A request for a path scanners probe (see [`PROBED`]), up to the end of the URL.
fn probe_url() -> String {
    format!(r#"/+(?:(?:typo3|xampp|admin)/)?{PROBED}(?:[/?][^"\s]*)?"#)
}

fn build(name: &str, mode: &str) -> Option<Builtin> {
    let (source, rules) = match name {
        "nginx-http-auth" => {
            let messages = [
                // One rule for both messages: a user name can hold the other one.
                r#"user ".*"(?:: password mismatch|:? was not found in ".*")"#,
                r"no user/password was provided for basic authentication",
                r"PAM: user '.*' - not authenticated: .*",
            ];
            let prefix = error_prefix("error|info");
            let mut all = rules(Kind::Failure, messages, |m| {
                format!("{prefix}{m}, client: <HOST>{TAIL}")
            });
            if mode == "aggressive" {
                // TLS handshakes that are not TLS: scanners probing the port.
                all.push(JailRule::failure(
                    format!(
                        r"{}SSL_do_handshake\(\) failed \(SSL: error:\S+(?: \S+){{1,3}} too (?:long|short)\)[^,]*, client: <HOST>, server: \S* *$",
                        error_prefix("crit")
                    ),
                ));
            }
            (file(ERROR_LOG), all)
        }
        "nginx-limit-req" => (
            file(ERROR_LOG),
            vec![JailRule::failure(
                // The zone's name is the admin's; `limiting requests, dry run` is not a
                // refusal.
                format!(
                    r#"{}limiting requests, excess: [\d.]+ by zone "[^"]*", client: <HOST>{TAIL}"#,
                    error_prefix("error|warn|notice|info")
                ),
            )],
        ),
        "nginx-botsearch" => (
            file(ACCESS_LOG),
            vec![
                JailRule::failure(format!(
                    r#"{}"(?:GET|POST|HEAD) {} HTTP/[\d.]+" 404 "#,
                    access_prefix(),
                    probe_url()
                )),
                JailRule::failure(
                    // The file name comes from the URL, so it is a wildcard.
                    format!(
                        r#"{}(?:open\(\) )?".*" (?:failed|is not found) \(2: No such file or directory\), client: <HOST>, server: \S*, request: "(?:GET|POST|HEAD) {} HTTP/[\d.]+"(?:, host: "[^"\s]*")?(?:, referrer: ".*")? *$"#,
                        error_prefix("error"),
                        probe_url()
                    ),
                ),
            ],
        ),
        "nginx-bad-request" => (
            file(ACCESS_LOG),
            vec![JailRule::failure(format!(
                r#"{}"[^"]*" 400 "#,
                access_prefix()
            ))],
        ),
        _ => return None,
    };
    Some(Builtin::each_line(source, rules))
}
