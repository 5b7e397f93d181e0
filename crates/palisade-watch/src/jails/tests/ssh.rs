//! sshd, normal and aggressive, on lines we wrote in the formats OpenSSH 7 to 9.9 write.

use std::net::IpAddr;
use std::sync::Arc;

use super::{check, lines, sequence};
use crate::jail_matcher::{JailMatcher, Rules};
use crate::jails::builtin;
use crate::model::JailFilter;

const P: &str = "Jun  2 11:04:17 gw sshd[4410]:";

#[test]
fn failures() {
    let p = P;
    let cases = lines![
        (format!("{p} Failed password for root from 198.51.100.23 port 40122 ssh2"), Some("198.51.100.23")),
        (format!("{p} Failed password for invalid user oracle from 198.51.100.24 port 40188 ssh2"), Some("198.51.100.24")),
        (format!("{p} Failed password for invalid user deploy-bot from 2001:db8:7::9"), Some("2001:db8:7::9")),
        (format!("{p} Failed none for invalid user x from 198.51.100.25 port 1 ssh2"), Some("198.51.100.25")),
        ("Invalid user test from 2001:db8:4::17 port 52014", Some("2001:db8:4::17")),
        ("sshd[811]: Invalid user ubnt from 203.0.113.5 port 3321", Some("203.0.113.5")),
        (format!("{p} Invalid user  from 203.0.113.6 port 3322"), Some("203.0.113.6")),
        (format!("{p} Illegal user guest from 203.0.113.7"), Some("203.0.113.7")),
        ("2024-06-02T11:04:17.512938+02:00 gw sshd[4410]: Connection closed by authenticating user admin 192.0.2.200 port 60124 [preauth]", Some("192.0.2.200")),
        (format!("{p} Disconnected from authenticating user pi 192.0.2.201 port 60130 [preauth]"), Some("192.0.2.201")),
        (format!("{p} Connection reset by invalid user  192.0.2.202 port 60131 [preauth]"), Some("192.0.2.202")),
        (format!("{p} error: maximum authentication attempts exceeded for root from 203.0.113.90 port 48812 ssh2 [preauth]"), Some("203.0.113.90")),
        (format!("{p} error: maximum authentication attempts exceeded for invalid user support from 2001:db8::5a port 48813 ssh2 [preauth]"), Some("2001:db8::5a")),
        (format!("{p} Disconnecting authenticating user root 203.0.113.91 port 48814: Too many authentication failures [preauth]"), Some("203.0.113.91")),
        (format!("{p} Failed password for root from ::ffff:203.0.113.44 port 2200 ssh2"), Some("203.0.113.44")),
        (format!("{p} Failed publickey for invalid user git from 192.0.2.150 port 41000 ssh2: ED25519 SHA256:Hx2m0k7yTq9ZVd3pG1fXcL8bN5aRwUeJtY6sKoQiMvA"), Some("192.0.2.150")),
        (format!("{p} Failed keyboard-interactive/pam for invalid user ftpuser from 2001:db8::beef port 50000 ssh2"), Some("2001:db8::beef")),
        (format!("{p} Failed keyboard-interactive for <invalid username> from 192.0.2.151 port 50001 ssh2"), Some("192.0.2.151")),
        ("Jun  2 11:04:17 gw sshd[4410]: kernel:[  970.699396]: Failed password for root from 192.0.2.152 port 3 ssh2", Some("192.0.2.152")),
        ("Mar  9 08:00:01 host sshd-session[9012]: Failed password for root from 192.0.2.9 port 1022 ssh2", Some("192.0.2.9")),
        ("2025-03-09T08:00:01.000001+00:00 host sshd-session[9012]: Invalid user admin from 192.0.2.10 port 1023", Some("192.0.2.10")),
        (format!("{p} User root from 198.51.100.5 not allowed because not listed in AllowUsers"), Some("198.51.100.5")),
        (format!("{p} User operator from 198.51.100.6 not allowed because none of user's groups are listed in AllowGroups"), Some("198.51.100.6")),
        (format!("{p} Received disconnect from 198.51.100.6 port 4000:11: Bye Bye [preauth]"), Some("198.51.100.6")),
        (format!("{p} error: Received disconnect from 198.51.100.7: 3: com.jcraft.jsch.JSchException: Auth fail [preauth]"), Some("198.51.100.7")),
        (format!("{p} Disconnecting invalid user admin 198.51.100.8 port 4002: Change of username or service not allowed: (admin,ssh-connection) -> (root,ssh-connection) [preauth]"), Some("198.51.100.8")),
        (format!("{p} ROOT LOGIN REFUSED FROM 198.51.100.9 port 4003 [preauth]"), Some("198.51.100.9")),
        (format!("{p} refused connect from scanner@host.example (198.51.100.10)"), Some("198.51.100.10")),
        (format!("{p} error: PAM: Authentication failure for alice from 198.51.100.11 via 10.0.0.1"), Some("198.51.100.11")),
        (format!("{p} error: PAM: User not known to the underlying authentication module for illegal user qwerty from 198.51.100.12"), Some("198.51.100.12")),
        ("Jun  2 11:04:17 [sshd]: User root from 198.51.100.13 not allowed because listed in DenyUsers", Some("198.51.100.13")),
        ("Jun  2 11:04:17 gw sshd[4410]: [ID 800047 auth.info] Failed keyboard-interactive for alice from 198.51.100.14 port 3 ssh2", Some("198.51.100.14")),
        ("<38>1 2024-06-02T11:04:17.512938+02:00 gw sshd 4410 - - Failed password for root from 192.0.2.33 port 1000 ssh2", Some("192.0.2.33")),
        (r#"<38>1 2024-06-02T11:04:17.51+02:00 gw sshd 4410 - [origin ip="10.0.0.9"][meta x="a]\"b"] Failed password for root from 192.0.2.35 port 1000 ssh2"#, Some("192.0.2.35")),
        ("Failed password for admin from 192.0.2.34 port 1001 ssh2\n", Some("192.0.2.34")),
        (format!("{p} Failed password for root from 192.0.2.36 port 1002 ssh2 "), Some("192.0.2.36")),
    ];
    check("sshd", "normal", &cases);
    check("sshd", "aggressive", &cases);
}

#[test]
fn injections() {
    let p = P;
    let cases = lines![
        // The client chose the user name (or a hostbased client user, or what follows
        // `ssh2: `): one reading is the line the daemon wrote.
        (format!("{p} Failed password for invalid user x from 6.6.6.6 port 1 ssh2 from 192.0.2.61 port 4022 ssh2"), Some("192.0.2.61")),
        (format!("{p} Invalid user from 6.6.6.6 port 22 from 192.0.2.62 port 4023"), Some("192.0.2.62")),
        (format!("{p} Connection closed by authenticating user root 6.6.6.6 port 22 192.0.2.63 port 4024 [preauth]"), Some("192.0.2.63")),
        (format!("{p} Failed hostbased for root from 192.0.2.65 port 4026 ssh2: ED25519 SHA256:abc, client user \"x from 6.6.6.6 port 1 ssh2\", client host \"h\""), Some("192.0.2.65")),
        (format!("{p} Invalid user Failed password for root from 6.6.6.6 port 1 ssh2 from 192.0.2.67 port 4027"), Some("192.0.2.67")),
        // A name with spaces would put the second address in sshd's place.
        (format!("{p} Failed password for root from 192.0.2.68 port 4028 ssh2: ruser from 6.6.6.6"), None),
        (format!("{p} refused connect from x (6.6.6.6)@h (192.0.2.69)"), Some("192.0.2.69")),
        // Two readings with two different addresses: nobody.
        (format!("{p} Failed password for invalid user a from 6.6.6.6 port 1 ssh2: RSA x from 192.0.2.64 port 4025 ssh2"), None),
        (format!("{p} Failed password for invalid user x from 192.0.2.70 port 22 ssh2: from 6.6.6.6 port 5 ssh2"), None),
        // sshd writes nothing after `[preauth]`: the name holds the first address.
        (format!("{p} Connection closed by authenticating user x 6.6.6.6 port 1 [preauth] 192.0.2.71 port 2 [preauth]"), Some("192.0.2.71")),
    ];
    check("sshd", "normal", &cases);
    check("sshd", "aggressive", &cases);
}

#[test]
fn not_failures() {
    let p = P;
    let cases = lines![
        (format!("{p} Accepted password for deploy from 192.0.2.10 port 5000 ssh2"), None),
        (format!("{p} Accepted publickey for deploy from 192.0.2.10 port 5000 ssh2: ED25519 SHA256:Hx2m0k7yTq9ZVd3pG1fXcL8bN5aRwUeJtY6sKoQiMvA"), None),
        (format!("{p} Failed publickey for deploy from 192.0.2.10 port 5000 ssh2: RSA SHA256:Qm9vZ0l1c3RhcmFuZG9ta2V5ZmluZ2VycHJpbnQ"), None),
        (format!("{p} Postponed publickey for deploy from 192.0.2.10 port 5000 ssh2 [preauth]"), None),
        (format!("{p} pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=192.0.2.11  user=root"), None),
        (format!("{p} Connection closed by 192.0.2.12 port 5001"), None),
        (format!("{p} Connection from 192.0.2.12 port 5001 on 192.0.2.1 port 22 rdomain \"\""), None),
        (format!("{p} Received disconnect from 192.0.2.13 port 5002:11: disconnected by user"), None),
        (format!("{p} Disconnected from user deploy 192.0.2.14 port 5003"), None),
        (format!("{p} pam_unix(sshd:session): session opened for user deploy(uid=1000) by (uid=0)"), None),
        (format!("{p} Failed password for root from server.example.com port 22 ssh2"), None),
        (format!("{p} Failed password for root from 1.2.3.4.example.com port 22 ssh2"), None),
        (format!("{p} Failed password for root from 192.0.2.300 port 22 ssh2"), None),
        (format!("{p} Failed password for root from 0.0.0.0 port 22 ssh2"), None),
        ("Jun  2 11:04:17 gw myapp[77]: Failed password for root from 192.0.2.15 port 22 ssh2", None),
        ("Jun  2 11:04:17 gw CRON[77]: pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)", None),
        (format!("{p} Address 192.0.2.16 maps to x.example, but this does not map back to the address - POSSIBLE BREAK-IN ATTEMPT!"), None),
        (format!("{p} Server listening on :: port 22."), None),
        (format!("{p} User child is on pid 4411"), None),
        (String::new(), None),
    ];
    check("sshd", "normal", &cases);
    check("sshd", "aggressive", &cases);
}

#[test]
fn scans_count_in_aggressive_mode_only() {
    let p = P;
    let cases = [
        (format!("{p} Did not receive identification string from 198.51.100.77 port 61000"), "198.51.100.77"),
        (format!("{p} banner exchange: Connection from 198.51.100.78 port 55120: invalid format"), "198.51.100.78"),
        (format!("{p} Bad protocol version identification 'GET / HTTP/1.1' from 198.51.100.79 port 55121"), "198.51.100.79"),
        (format!("{p} Unable to negotiate with 198.51.100.80 port 55122: no matching key exchange method found. Their offer: diffie-hellman-group1-sha1 [preauth]"), "198.51.100.80"),
        (format!("{p} Connection closed by 198.51.100.81 port 55123 [preauth]"), "198.51.100.81"),
        (format!("{p} Disconnected from 198.51.100.82 port 55124 [preauth]"), "198.51.100.82"),
        (format!("{p} error: Received disconnect from 198.51.100.83 port 55125:14: No supported authentication methods available [preauth]"), "198.51.100.83"),
    ];
    let normal: Vec<(String, Option<&str>)> =
        cases.iter().map(|(l, _)| (l.clone(), None)).collect();
    let aggressive: Vec<(String, Option<&str>)> =
        cases.iter().map(|(l, h)| (l.clone(), Some(*h))).collect();
    check("sshd", "normal", &normal);
    check("sshd", "aggressive", &aggressive);
    // Client text in the banner is a wildcard: the address after it is sshd's.
    check("sshd", "aggressive", &lines![
        (format!("{p} Bad protocol version identification 'x' from 6.6.6.6' from 198.51.100.84 port 1"), Some("198.51.100.84")),
    ]);
}

#[test]
fn a_connection_told_over_several_lines_by_process_id() {
    // VERBOSE logging names the address first; the failure comes without it.
    sequence("sshd", "normal", &lines![
        ("Jun  2 11:05:00 gw sshd[5001]: Connection from 203.0.113.30 port 40000 on 192.0.2.1 port 22 rdomain \"\"", &[] as &[&str]),
        ("Jun  2 11:05:00 gw sshd[5002]: Connection from 203.0.113.31 port 40001 on 192.0.2.1 port 22", &[]),
        ("Jun  2 11:05:03 gw sshd[5001]: Disconnecting: Too many authentication failures for root [preauth]", &["203.0.113.30"]),
        ("Jun  2 11:05:04 gw sshd[5002]: User backup not allowed because account is locked", &["203.0.113.31"]),
    ]);
    // Without VERBOSE, the address comes after, with the disconnect.
    sequence("sshd", "normal", &lines![
        ("Jun  2 11:06:00 gw sshd[5003]: Disconnecting: Too many authentication failures [preauth]", &[] as &[&str]),
        ("Jun  2 11:06:00 gw sshd[5004]: Connection closed by 203.0.113.33 port 40003 [preauth]", &[]),
        ("Jun  2 11:06:01 gw sshd[5003]: Connection closed by 203.0.113.32 port 40002 [preauth]", &["203.0.113.32"]),
    ]);
    // Another host's process with the same id is another connection.
    sequence("sshd", "normal", &lines![
        ("Jun  2 11:06:00 gw1 sshd[5005]: Connection from 203.0.113.34 port 1 on 192.0.2.1 port 22", &[] as &[&str]),
        ("Jun  2 11:06:00 gw2 sshd[5005]: Disconnecting: Too many authentication failures [preauth]", &[]),
    ]);
    // The journal reader's form (`IDENT[PID]: `) has process ids too.
    sequence("sshd", "aggressive", &lines![
        ("sshd-session[6001]: Connection from 203.0.113.35 port 40005 on 192.0.2.1 port 22", &[] as &[&str]),
        ("sshd-session[6001]: error: kex_exchange_identification: Connection closed by remote host", &["203.0.113.35"]),
        ("sshd-session[6002]: error: kex_exchange_identification: read: Connection reset by peer", &[]),
        ("sshd-session[6002]: Connection reset by 203.0.113.36 port 40006", &["203.0.113.36"]),
        ("sshd-session[6003]: Connection from 203.0.113.37 port 40007 on 192.0.2.1 port 22", &[]),
        ("sshd-session[6003]: fatal: Unable to negotiate a key exchange method [preauth]", &["203.0.113.37"]),
    ]);
}

#[test]
fn pams_failure_counts_once_whether_or_not_sshd_tells_it_again() {
    // UsePAM: PAM's line, then sshd's own for the same attempt: one failure.
    sequence("sshd", "normal", &lines![
        ("Jun  2 11:07:00 gw sshd[7001]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.40  user=root", &[] as &[&str]),
        ("Jun  2 11:07:02 gw sshd[7001]: Failed password for root from 203.0.113.40 port 40010 ssh2", &["203.0.113.40"]),
        ("Jun  2 11:07:03 gw sshd[7001]: Connection closed by authenticating user root 203.0.113.40 port 40010 [preauth]", &["203.0.113.40"]),
    ]);
    // PAM's line alone (a PAM module that fails before sshd's password check): it counts
    // when the connection ends, also with a login.
    sequence("sshd", "normal", &lines![
        ("Jun  2 11:08:00 gw sshd[7002]: pam_sss(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser=root rhost=203.0.113.41", &[] as &[&str]),
        ("Jun  2 11:08:01 gw sshd[7002]: pam_sss(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser=admin rhost=203.0.113.41", &[]),
        ("Jun  2 11:08:02 gw sshd[7002]: Accepted keyboard-interactive/pam for carol from 203.0.113.41 port 40011 ssh2", &["203.0.113.41", "203.0.113.41"]),
        ("Jun  2 11:08:03 gw sshd[7003]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.42", &[]),
        ("Jun  2 11:08:04 gw sshd[7003]: Connection closed by 203.0.113.42 port 40012 [preauth]", &["203.0.113.42"]),
    ]);
}

#[test]
fn a_pam_module_that_fails_before_another_succeeds_can_be_ignored() {
    // pam_unix then pam_ldap: pam_unix fails for every LDAP user, who then logs in. Counted
    // by default (palisade does not compare the client's user names); a site with such a
    // stack ignores pam_unix's line, and sshd's own `Failed password` still counts.
    let b = builtin("sshd", "normal").unwrap();
    let ignore = [r"pam_unix\(sshd:auth\): authentication failure".to_string()];
    let rules = Arc::new(Rules::builtin(&b, &ignore).unwrap());
    let mut m = JailMatcher::new(&JailFilter::Rules(rules));
    let lines = [
        ("Jun  2 11:09:00 gw sshd[7010]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.43  user=dana", None),
        ("Jun  2 11:09:00 gw sshd[7010]: Accepted password for dana from 203.0.113.43 port 40013 ssh2", None),
        ("Jun  2 11:09:05 gw sshd[7011]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.44  user=root", None),
        ("Jun  2 11:09:06 gw sshd[7011]: Failed password for root from 203.0.113.44 port 40014 ssh2", Some("203.0.113.44")),
        ("Jun  2 11:09:07 gw sshd[7011]: Connection closed by authenticating user root 203.0.113.44 port 40014 [preauth]", Some("203.0.113.44")),
    ];
    for (i, (line, want)) in lines.iter().enumerate() {
        let want: Vec<IpAddr> = want.iter().map(|w| w.parse().unwrap()).collect();
        assert_eq!(m.feed(line.as_bytes(), 2000 + i as u64), want, "{line}");
    }
    // Without the ignore, the first connection's PAM failure counts at its login.
    sequence(
        "sshd",
        "normal",
        &lines![
            (lines[0].0, &[] as &[&str]),
            (lines[1].0, &["203.0.113.43"]),
        ],
    );
}
