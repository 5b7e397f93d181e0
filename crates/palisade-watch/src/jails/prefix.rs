//! How lines start, before the daemon's message: what syslog, rsyslog, RFC 5424 and the
//! watcher's own journal reader put in front of it. Only ever text the logging system
//! writes (time, host name, program name and process id), never the client's.
//!
//! Journal entries reach the jails as `IDENT[PID]: MESSAGE` (see the daemon's journal
//! reader), so every prefix accepts that form too.

use super::SessionSpec;

/// Timestamps of classic syslog (`Mar  5 14:39:21`) and of rsyslog's high-precision
/// format (`2024-03-05T14:39:21.123456+01:00`, also with a space before the time).
pub const TS: &str =
    r"(?:[A-Z][a-z]{2} +\d{1,2} \d\d:\d\d:\d\d|\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d\S*)";

/// An RFC 5424 header up to the message: priority and version, time, host, program,
/// process id, message id and structured data (`-` or `[...]` groups, quotes escaped).
fn rfc5424(ident: &str) -> String {
    format!(
        r#"<\d{{1,3}}>1 \S+ \S+ (?:{ident}) \S+ \S+ (?:-|(?:\[(?:[^\]"]|"(?:[^"\\]|\\.)*")*\])+) "#
    )
}

/// The start of a line written for program `ident` (a regex) up to its message:
/// `TIME [HOST ]IDENT[PID]: `, `TIME [IDENT]: `, an RFC 5424 header, or the journal
/// reader's `IDENT[PID]: `; a kernel-style `kernel:[ 970.699396]: ` (a relay that prefixes
/// its uptime) and Solaris' `[ID 800047 auth.info] ` may follow. With `bare`,
/// the message alone (as `sshd -E FILE` writes it) is accepted too.
///
/// After a timestamp the program's name is required, so another program's line in the
/// same file never matches.
pub fn syslog(ident: &str, bare: bool) -> String {
    let optional = if bare { "?" } else { "" };
    format!(
        r"(?-u)^(?:{}){optional}(?:kernel: ?\[ *\d+\.\d+\]:? )?(?:\[ID \d+ [\w.]+\] )?",
        syslog_head(ident)
    )
}

/// The alternatives of [`syslog`] without the anchor, for formats that may also start
/// with something of their own.
pub fn syslog_head(ident: &str) -> String {
    format!(
        r"{TS} (?:\S+ )?(?:(?:{ident})(?:\[\d+\])?:|\[(?:{ident})\]:?) |(?:{ident})\[\d+\]: |{}",
        rfc5424(ident)
    )
}

/// Where `ident`'s syslog prefix names the connection: its host name, program and
/// process id (sshd handles one connection per process), after the time.
pub fn syslog_session(ident: &str) -> SessionSpec {
    SessionSpec {
        skip: format!(r"(?-u)(?:(?:<\d{{1,3}}>1 \S+|{TS}) )?"),
        key: format!(r"(?-u)(?:\S+ )?(?:{ident})(?:\[\d+\]:| \d+ )"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(re: &str, line: &str) -> bool {
        regex::bytes::Regex::new(re)
            .unwrap()
            .is_match(line.as_bytes())
    }

    #[test]
    fn syslog_forms() {
        let p = format!("{}x$", syslog("sshd", false));
        for line in [
            "Mar  5 14:39:21 web sshd[1]: x",
            "Mar  5 14:39:21 sshd[1]: x",
            "2024-03-05T14:39:21.123+01:00 web sshd: x",
            "Mar  3 00:17:22 [sshd]: x",
            "Jun 25 23:53:34 [sshd] x",
            "sshd[1]: x",
            "Mar 29 05:59:23 dusky sshd[2]: [ID 800047 auth.info] x",
            "<38>1 2019-07-08T17:40:16.95-04:00 h.example sshd 57915 - - x",
            r#"<38>1 2019-07-08T17:40:16.95-04:00 h sshd 5 - [a b="[x]\"y"][c@1 d="e"] x"#,
        ] {
            assert!(matches(&p, line), "{line}");
        }
        for line in [
            "x",
            "Mar  5 14:39:21 web myapp[1]: x",
            "Mar  5 14:39:21 web sshd[1]: y x",
        ] {
            assert!(!matches(&p, line), "{line}");
        }
        let bare = format!("{}x$", syslog("sshd", true));
        assert!(matches(&bare, "x"));
        assert!(matches(&bare, "Mar  5 14:39:21 web sshd[1]: x"));
    }

    #[test]
    fn sessions_are_host_and_process() {
        let spec = syslog_session("sshd");
        let skip = regex::bytes::Regex::new(&format!("^{}", spec.skip)).unwrap();
        let key = regex::bytes::Regex::new(&format!("^{}", spec.key)).unwrap();
        let of = |line: &str| {
            let start = skip.find(line.as_bytes()).map_or(0, |m| m.end());
            key.find(&line.as_bytes()[start..])
                .map(|m| String::from_utf8_lossy(m.as_bytes()).into_owned())
        };
        assert_eq!(
            of("Mar  5 14:39:21 web sshd[812]: x").as_deref(),
            Some("web sshd[812]:")
        );
        assert_eq!(
            of("Mar  5 14:39:21 sshd[812]: x").as_deref(),
            Some("sshd[812]:")
        );
        assert_eq!(of("sshd[812]: x").as_deref(), Some("sshd[812]:"));
        assert_eq!(
            of("<38>1 2019-07-08T17:40:16.9-04:00 h sshd 57 - - x").as_deref(),
            Some("h sshd 57 ")
        );
        assert_eq!(of("Invalid user x sshd[812]: from 192.0.2.1"), None);
    }
}
