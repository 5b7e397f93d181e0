//! Mail: `postfix` (rejections; with `mode = "aggressive"`), `postfix-sasl`, `dovecot`
//! (with `mode = "aggressive"`).
//!
//! Postfix names a client `name[ADDR]`, the name from reverse DNS and checked by Postfix
//! (letters, digits, `.`, `-`, or `unknown`), always right after `from ` or at the start
//! of a warning, before what the client sent (HELO names, addresses). Dovecot writes the
//! client's address as `rip=ADDR` after the user name (the client's choice) or inside
//! `mechanism(USER,ADDR)`.

use super::prefix::{syslog, TS};
use super::{journal, rules, Builtin, Family, JailRule, Kind, SessionSpec};

pub(super) const FAMILY: Family = Family {
    jails: &[
        ("postfix", &["normal", "aggressive"]),
        ("postfix-sasl", &["normal"]),
        ("dovecot", &["normal", "aggressive"]),
    ],
    build,
};

/// Postfix's program names (`postfix/smtpd`, `postfix-incoming/submission/smtpd`).
const POSTFIX: &str = r"postfix(?:-[\w-]+)?(?:/[\w-]+)+";

/// A client as Postfix writes it, and the optional port after it.
const CLIENT: &str = r"[\w.-]*\[<HOST>\](?::\d+)?";

/// Postfix's queue ids: short ones in hexadecimal, long ones without vowels (so
/// `NOQUEUE` is neither).
const QUEUE_ID: &str = r"(?:[0-9A-F]{6,}|[0-9B-DF-HJ-NP-TV-Zb-df-hj-np-tv-z]{10,})";

/// A SASL failure that is the authentication server's fault.
const SASL_SERVER_DOWN: &str =
    r"SASL [\w-]+ authentication failed: Connection lost to authentication server$";

/// Reasons for a refusal that say the client misbehaves (a greylisting `450` does not:
/// a real server retries and gets through).
const REJECTED: &str = r"(?:Service unavailable|(?:Client host|Command|Data command) rejected|Relay access denied|(?:Host|Domain) not found|need fully-qualified hostname|match|[Uu]ser unknown|[Uu]ndeliverable address)";

fn postfix(mode: &str) -> Vec<JailRule> {
    let prefix = syslog(POSTFIX, true);
    let with = |m: &str| format!("{prefix}{m}");
    let mut all = rules(
        Kind::Failure,
        [
            format!(
                r"(?:NOQUEUE|{QUEUE_ID}): (?:milter-)?reject: [A-Z-]+ from {CLIENT}: [45][50][04] [45]\.\d\.\d+ (?:(?:<.*>)?: )?(?:(?:Helo command|(?:Sender|Recipient) address) rejected: )?{REJECTED}\b.*"
            ),
            format!(r"(?:improper command pipelining|too many errors) after \S+ from {CLIENT}(?::.*)?"),
        ]
        .iter()
        .map(String::as_str),
        with,
    );
    if mode == "aggressive" {
        all.extend(rules(
            Kind::Failure,
            [
                // A client that authenticates and fails, then disconnects; one that drops
                // the connection before mail; postscreen's bot tests.
                format!(
                    r"disconnect from {CLIENT}(?: \w+=\d+(?:/\d+)?)* auth=0/[1-9]\d*(?: \w+=\d+(?:/\d+)?)*"
                ),
                format!(r"lost connection after (?:CONNECT|EHLO|HELO|STARTTLS|AUTH|RCPT|MAIL|RSET|NOOP|VRFY|QUIT|UNKNOWN) from {CLIENT}"),
                r"(?:PREGREET \d+ after [\d.]+|HANGUP after [\d.]+|COMMAND (?:TIME|COUNT|LENGTH) LIMIT) from \[<HOST>\]:\d+.*".to_string(),
                format!(r"warning: {CLIENT}: SASL [\w-]+ authentication failed(?::.*)?"),
            ]
            .iter()
            .map(String::as_str),
            with,
        ));
    }
    // A message taken in for a local user that does not exist and bounced afterwards
    // (when Postfix does not know the local users while it talks to the client): the
    // delivery agent names the queue id, not the client; smtpd named both earlier.
    all.push(JailRule {
        pattern: format!(
            r#"{prefix}{QUEUE_ID}: to=<.*>, .*status=bounced \(unknown user: ".*"\)$"#
        ),
        kind: Kind::Hostless,
    });
    all.push(JailRule {
        pattern: format!(r"{prefix}{QUEUE_ID}: client={CLIENT}(?:, .*)?$"),
        kind: Kind::Address,
    });
    all
}

/// Dovecot's program names and the parts it puts before its message.
fn dovecot_prefix() -> String {
    format!(
        r"(?-u)^(?:@[0-9a-f]{{24}} |{TS} (?:[\w.-]+ )?)?(?:dovecot(?:-auth)?(?:\[\d+\])?: )?(?:dovecot: )?(?:auth(?:-worker)?(?:\([^)]*\))?: )?(?:(?:pop3|imap|managesieve|submission|lmtp)-login: )?(?:Info: )?(?:conn \S+ \([^)]*\): auth(?:-worker)?<\d+>: )?"
    )
}

/// How a login process says a login failed, and the aggressive mode's refusals before
/// any attempt.
const LOGIN_FAILED: &str = r"auth failed, \d+ attempts(?: in \d+ secs)?|tried to use (?:disabled|disallowed) \S+ auth|proxy dest auth failed";
const LOGIN_NOTHING: &str = r"no auth attempts(?: in \d+ secs)?|disconnected before auth was ready, waited \d+ secs|client didn't finish \S+ auth, waited \d+ secs";

fn dovecot(mode: &str) -> Vec<JailRule> {
    let prefix = dovecot_prefix();
    let login = |reasons: &str| {
        format!(
            r"(?:Aborted login|Disconnected|Remote closed connection|Client has quit the connection)(?:: .*)? \((?:{reasons})\):(?: user=<.*>,)?(?: method=\S+,)? rip=<HOST>(?:, lip=\S+)?(?:, .*)? *$"
        )
    };
    let mut messages = vec![
        login(LOGIN_FAILED),
        r"pam_unix\(dovecot:auth\): authentication failure; logname=\S* uid=\S* euid=\S* tty=\S* ruser=.* rhost=<HOST>(?: +user=.*)? *$".to_string(),
        // `mechanism(USER,ADDR[,SESSION])`: the user name is the client's.
        r"pam\(.*,<HOST>(?:,.*)?\): pam_authenticate\(\) failed: (?:User not known to the underlying authentication module: \d+ Time\(s\)|Authentication failure \([Pp]assword mismatch\?\)|Permission denied) *$".to_string(),
        // Verbose logging adds what it knows in parentheses.
        r"[a-z-]{3,15}\(.*,<HOST>(?:,.*)?\): (?:[Uu]nknown user|[Ii]nvalid credentials|[Pp]assword mismatch)(?: \(.*\))? *$".to_string(),
    ];
    if mode == "aggressive" {
        messages.push(login(LOGIN_NOTHING));
    }
    rules(Kind::Failure, messages.iter().map(String::as_str), |m| {
        format!("{prefix}{m}")
    })
}

fn build(name: &str, mode: &str) -> Option<Builtin> {
    let postfix_journal = journal(&["postfix@-.service", "postfix.service"]);
    let builtin = match name {
        "postfix" => Builtin {
            source: postfix_journal,
            rules: postfix(mode),
            session: Some(SessionSpec {
                skip: format!(r"(?-u)(?:{TS} (?:\S+ )?)?{POSTFIX}\[\d+\]: "),
                key: format!("(?-u){QUEUE_ID}: "),
            }),
            // The authentication server's fault, not the client's (aggressive mode counts
            // SASL failures).
            ignore: vec![SASL_SERVER_DOWN.into()],
        },
        "postfix-sasl" => Builtin {
            source: postfix_journal,
            rules: vec![JailRule {
                pattern: format!(
                    r"{}warning: {CLIENT}: SASL [\w-]+ authentication failed(?::.*)?$",
                    syslog(POSTFIX, true)
                ),
                kind: Kind::Failure,
            }],
            session: None,
            // The authentication server's faults, not the client's; a mechanism the
            // server does not offer is a client's mistake, counted in postfix's
            // aggressive mode only.
            ignore: vec![
                SASL_SERVER_DOWN.into(),
                r"SASL [\w-]+ authentication failed: Invalid authentication mechanism$".into(),
            ],
        },
        "dovecot" => Builtin {
            source: journal(&["dovecot.service"]),
            rules: dovecot(mode),
            session: None,
            ignore: Vec::new(),
        },
        _ => return None,
    };
    Some(builtin)
}
