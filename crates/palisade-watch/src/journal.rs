//! The systemd journal as the jails read it: which `journalctl` to run, and its entries
//! (JSON, one per line) to [`JournalEntry`]s. Pure: the daemon runs the command.
//!
//! One `journalctl` follows every jail that reads the journal: its matches are the union
//! of theirs (so it hands over only entries some jail wants), and each entry goes to the
//! jails whose [`JournalMatch`] it fits. It starts at the time the daemon started (not at
//! the journal's end as `--lines=0` would), so an entry written while `journalctl` was
//! still opening the files is not lost.

use serde_json::Value;

use crate::jail_matcher::JournalEntry;
use crate::model::{JournalLocation, JournalMatch};

/// The fields the jails use; `journalctl` sends only these (and its own cursor fields).
const FIELDS: &str = "MESSAGE,_SYSTEMD_UNIT,SYSLOG_IDENTIFIER,_COMM,SYSLOG_PID,_PID,_HOSTNAME";

/// `journalctl`'s arguments to follow `location` for jails with `matches`, from
/// `since_micros` (microseconds since the epoch; `None`: every entry the journal holds).
pub fn journalctl_args(
    location: &JournalLocation,
    matches: &[&JournalMatch],
    since_micros: Option<u64>,
) -> Vec<String> {
    let mut args = vec![
        "--follow".to_string(),
        "--output=json".to_string(),
        format!("--output-fields={FIELDS}"),
        "--no-pager".to_string(),
        "--quiet".to_string(),
    ];
    match since_micros {
        Some(t) => args.push(format!("--since=@{}.{:06}", t / 1_000_000, t % 1_000_000)),
        None => args.push("--no-tail".to_string()),
    }
    match location {
        JournalLocation::System => {}
        JournalLocation::Directory(d) => args.push(format!("--directory={}", d.display())),
        JournalLocation::Files(files) => {
            args.extend(files.iter().map(|f| format!("--file={}", f.display())))
        }
    }
    // A jail that reads every entry makes any match pointless.
    if matches
        .iter()
        .all(|m| !(m.units.is_empty() && m.identifiers.is_empty()))
    {
        for (i, m) in matches.iter().enumerate() {
            if i > 0 {
                args.push("+".to_string());
            }
            args.extend(m.units.iter().map(|u| format!("_SYSTEMD_UNIT={u}")));
            args.extend(
                m.identifiers
                    .iter()
                    .map(|s| format!("SYSLOG_IDENTIFIER={s}")),
            );
        }
    }
    args
}

impl JournalEntry {
    /// One line of `journalctl --output=json`, or `None` if it is not an entry with a
    /// message. Fields the journal holds as bytes (not UTF-8) come as arrays of numbers;
    /// a field given several times comes as an array, and its first value counts.
    pub fn from_json(line: &[u8]) -> Option<Self> {
        let Value::Object(map) = serde_json::from_slice::<Value>(line).ok()? else {
            return None;
        };
        let field = |name: &str| -> Option<Vec<u8>> { map.get(name).and_then(bytes) };
        let text = |name: &str| -> Option<String> {
            field(name).map(|b| String::from_utf8_lossy(&b).into_owned())
        };
        Some(Self {
            message: field("MESSAGE")?,
            unit: text("_SYSTEMD_UNIT"),
            identifier: text("SYSLOG_IDENTIFIER").or_else(|| text("_COMM")),
            pid: text("SYSLOG_PID").or_else(|| text("_PID")),
            hostname: text("_HOSTNAME"),
        })
    }
}

fn bytes(v: &Value) -> Option<Vec<u8>> {
    match v {
        Value::String(s) => Some(s.clone().into_bytes()),
        Value::Array(items) if items.iter().all(Value::is_u64) => items
            .iter()
            .map(|n| n.as_u64().and_then(|n| u8::try_from(n).ok()))
            .collect(),
        Value::Array(items) => items.first().and_then(bytes),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_with_text_bytes_and_repeated_fields() {
        let e = JournalEntry::from_json(
            br#"{"__CURSOR":"s=1","MESSAGE":"Failed password for root from 192.0.2.1 port 1 ssh2","_SYSTEMD_UNIT":"ssh.service","SYSLOG_IDENTIFIER":"sshd-session","_PID":"812","_HOSTNAME":"web"}"#,
        )
        .unwrap();
        assert_eq!(e.unit.as_deref(), Some("ssh.service"));
        assert_eq!(e.identifier.as_deref(), Some("sshd-session"));
        assert_eq!(e.pid.as_deref(), Some("812"));
        let e = JournalEntry::from_json(
            br#"{"MESSAGE":[104,105,255],"_COMM":"app","SYSLOG_PID":["7","8"]}"#,
        )
        .unwrap();
        assert_eq!(e.message, b"hi\xff");
        assert_eq!(
            (e.identifier.as_deref(), e.pid.as_deref()),
            (Some("app"), Some("7"))
        );
        assert!(JournalEntry::from_json(br#"{"_PID":"1"}"#).is_none());
        assert!(JournalEntry::from_json(b"not json").is_none());
    }

    #[test]
    fn one_journalctl_for_every_jail() {
        let ssh = JournalMatch {
            units: vec!["ssh.service".into()],
            identifiers: vec!["sshd".into(), "sshd-session".into()],
        };
        let mail = JournalMatch {
            units: vec!["postfix@-.service".into()],
            identifiers: vec![],
        };
        let args = journalctl_args(
            &JournalLocation::Directory("/var/log/journal/remote".into()),
            &[&ssh, &mail],
            Some(1_700_000_000_250_000),
        );
        let tail: Vec<&str> = args.iter().map(String::as_str).skip(5).collect();
        assert_eq!(
            tail,
            [
                "--since=@1700000000.250000",
                "--directory=/var/log/journal/remote",
                "_SYSTEMD_UNIT=ssh.service",
                "SYSLOG_IDENTIFIER=sshd",
                "SYSLOG_IDENTIFIER=sshd-session",
                "+",
                "_SYSTEMD_UNIT=postfix@-.service",
            ]
        );
        let all = JournalMatch::default();
        let args = journalctl_args(
            &JournalLocation::Files(vec!["/a".into()]),
            &[&ssh, &all],
            None,
        );
        assert_eq!(args.last().map(String::as_str), Some("--file=/a"));
        assert!(args.contains(&"--no-tail".to_string()));
    }
}
