//! FTP servers: `vsftpd`, `proftpd`.
//!
//! vsftpd logs failed logins to its own log (`[pid N] [USER] FAIL LOGIN: Client "ADDR"`,
//! the user name in brackets being the client's) and through PAM to syslog. proftpd
//! writes the client as `(NAME[ADDR])` before its message, the name from reverse DNS
//! (no spaces, no brackets); the user name follows `USER `.

use super::prefix::{syslog, TS};
use super::{file, rules, Builtin, Family, Kind};

pub(super) const FAMILY: Family = Family {
    jails: &[("vsftpd", &["normal"]), ("proftpd", &["normal"])],
    build,
};

/// Why proftpd refused a login.
const PROFTPD_REFUSED: &str = r"(?:[uU]ser not authorized for login|[nN]o such user found|[iI]ncorrect password|[pP]assword expired|[aA]ccount disabled|[iI]nvalid shell: '.*'|[uU]ser in \S+|[lL]imit (?:access|configuration) denies login|[nN]ot a UserAlias|[mM]aximum login length exceeded)";

fn build(name: &str, _mode: &str) -> Option<Builtin> {
    let (source, rules) = match name {
        "vsftpd" => (
            file("/var/log/vsftpd.log"),
            rules(
                Kind::Failure,
                [
                    // vsftpd's own log: its time (`Fri Jan 19 12:20:33 2007`) when it
                    // writes the file itself, then the process and the user.
                    r#"(?-u)^(?:[A-Z][a-z]{2} [A-Z][a-z]{2} +\d{1,2} \d\d:\d\d:\d\d \d{4} )?\[pid \d+\] \[.*\] FAIL LOGIN: Client "<HOST>"(?:, ".*")? *$"#
                        .to_string(),
                    format!(
                        r"{}(?:\(pam_unix\):? |pam_unix\(vsftpd:auth\): )?authentication failure; logname=\S* uid=\S* euid=\S* tty=\S* ruser=.* rhost=<HOST>(?: +user=.*)? *$",
                        syslog(r"vsftpd(?:\(pam_unix\))?", false)
                    ),
                ]
                .iter()
                .map(String::as_str),
                |m| m.to_string(),
            ),
        ),
        "proftpd" => {
            let prefix = format!(
                r"(?-u)^(?:{TS} (?:\S+ )?)?proftpd\[\d+\]:? \S+ \([^\[\]\s]*\[<HOST>\]\)[: -]+ "
            );
            (
                file("/var/log/proftpd/proftpd.log"),
                rules(
                    Kind::Failure,
                    [
                        format!(r"USER .*(?: \(Login failed\))?: {PROFTPD_REFUSED}.*"),
                        r"SECURITY VIOLATION: .* login attempted.*".to_string(),
                        r"Maximum login attempts \(\d+\) exceeded.*".to_string(),
                    ]
                    .iter()
                    .map(String::as_str),
                    |m| format!("{prefix}{m}"),
                ),
            )
        }
        _ => return None,
    };
    Some(Builtin::each_line(source, rules))
}
