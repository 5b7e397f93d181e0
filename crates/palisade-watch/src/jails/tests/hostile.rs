//! Hostile fields through every built-in jail: each template is a line a daemon writes,
//! with `{C}` where it writes the client's address and `{X}` in a field the client fills
//! (a user name, a URL, a referer, a HELO name, what follows `ssh2: `). Whatever the client
//! puts there, built of pieces that imitate the daemons' own lines with other addresses,
//! the jail accuses the real client or nobody.

use std::net::IpAddr;

use proptest::prelude::*;

use super::matcher;

const REAL: &str = "192.0.2.77";

/// (jail, mode, template, how the daemon writes `"` in the field).
type Template = (&'static str, &'static str, &'static str, Quotes);

#[derive(Clone, Copy)]
enum Quotes {
    /// Written as they are.
    Raw,
    /// nginx's access log: `\x22`.
    Hex,
    /// Apache's access log: `\"`.
    Backslash,
}

fn templates() -> Vec<Template> {
    use Quotes::*;
    let mut t: Vec<Template> = Vec::new();
    for mode in ["normal", "aggressive"] {
        for line in [
            "Jun  2 11:04:17 gw sshd[4410]: Failed password for invalid user {X} from {C} port 22 ssh2",
            "Jun  2 11:04:17 gw sshd[4410]: Failed publickey for invalid user {X} from {C} port 22 ssh2: RSA SHA256:abc",
            "Jun  2 11:04:17 gw sshd[4410]: Failed hostbased for root from {C} port 22 ssh2: ED25519 SHA256:abc, client user \"{X}\", client host \"h\"",
            "Jun  2 11:04:17 gw sshd[4410]: Invalid user {X} from {C} port 22",
            "Jun  2 11:04:17 gw sshd[4410]: Connection closed by invalid user {X} {C} port 22 [preauth]",
            "Jun  2 11:04:17 gw sshd[4410]: Disconnecting invalid user {X} {C} port 22: Change of username or service not allowed: ({X},ssh-connection) -> (b,ssh-connection) [preauth]",
            "Jun  2 11:04:17 gw sshd[4410]: error: maximum authentication attempts exceeded for invalid user {X} from {C} port 22 ssh2 [preauth]",
            "Jun  2 11:04:17 gw sshd[4410]: Received disconnect from {C} port 22:3: {X}: Auth fail [preauth]",
            "Jun  2 11:04:17 gw sshd[4410]: error: PAM: Authentication failure for {X} from {C}",
            "Jun  2 11:04:17 gw sshd[4410]: refused connect from {X} ({C})",
            "Jun  2 11:04:17 gw sshd[4410]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser={X} rhost={C}\nJun  2 11:04:18 gw sshd[4410]: Connection closed by {C} port 22 [preauth]",
        ] {
            t.push(("sshd", mode, line, Raw));
        }
    }
    for line in [
        "Jun  2 11:04:17 gw sshd[4410]: Bad protocol version identification '{X}' from {C} port 22",
        "Jun  2 11:04:17 gw sshd[4410]: Unable to negotiate with {C} port 22: no matching cipher found. Their offer: {X} [preauth]",
    ] {
        t.push(("sshd", "aggressive", line, Raw));
    }
    for mode in ["normal", "aggressive"] {
        t.push(("nginx-http-auth", mode, r#"2024/05/18 09:14:03 [error] 1#1: *2 user "{X}": password mismatch, client: {C}, server: s, request: "GET / HTTP/1.1", host: "h""#, Raw));
        t.push(("nginx-http-auth", mode, r#"2024/05/18 09:14:03 [error] 1#1: *2 user "u" was not found in "/x", client: {C}, server: s, request: "GET / HTTP/1.1", host: "h", referrer: "{X}""#, Raw));
    }
    t.extend([
        ("nginx-limit-req", "normal", r#"2024/05/18 09:14:03 [error] 1#1: *2 limiting requests, excess: 9.1 by zone "z", client: {C}, server: s, request: "GET / HTTP/1.1", host: "h", referrer: "{X}""#, Raw),
        ("nginx-botsearch", "normal", r#"{C} - - [18/May/2024:10:15:02 +0200] "GET /wp-login.php HTTP/1.1" 404 1 "{X}" "{X}""#, Hex),
        ("nginx-bad-request", "normal", r#"{C} - - [18/May/2024:10:15:02 +0200] "{X}" 400 1 "{X}" "-""#, Hex),
        ("apache-badbots", "normal", r#"{C} - - [18/May/2024:10:15:02 +0200] "GET /{X} HTTP/1.1" 200 1 "{X}" "Nikto {X}""#, Backslash),
        ("postfix", "normal", "May 18 10:30:44 mx postfix/smtpd[8812]: NOQUEUE: reject: RCPT from unknown[{C}]: 554 5.7.1 <{X}>: Relay access denied; from=<{X}> to=<{X}> proto=ESMTP helo=<{X}>", Raw),
        ("postfix", "aggressive", "May 18 10:30:44 mx postfix/smtpd[8812]: improper command pipelining after DATA from unknown[{C}]: {X}", Raw),
        ("postfix-sasl", "normal", "May 18 10:30:44 mx postfix/smtpd[8812]: warning: unknown[{C}]: SASL LOGIN authentication failed: {X}", Raw),
        ("vsftpd", "normal", "Sat May 18 12:00:00 2024 [pid 1] [{X}] FAIL LOGIN: Client \"{C}\"", Raw),
        ("proftpd", "normal", "May 18 12:10:00 ftp proftpd[5150]: ftp.example.org (h[{C}]) - USER {X}: no such user found from h [{C}] to 192.0.2.1:21", Raw),
        ("mysqld-auth", "normal", "2024-05-18 12:20:01 77 [Warning] Access denied for user '{X}'@'{C}' (using password: YES)", Raw),
    ]);
    for mode in ["normal", "aggressive"] {
        t.push(("dovecot", mode, "May 18 11:00:00 mx dovecot: imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<{X}>, method=PLAIN, rip={C}, lip=192.0.2.1, session=<x>", Raw));
        t.push((
            "dovecot",
            mode,
            "May 18 11:00:00 mx dovecot: auth: passwd-file({X},{C}): unknown user",
            Raw,
        ));
        t.push(("dovecot", mode, "May 18 11:00:00 mx dovecot: auth-worker(9): pam({X},{C},<s>): pam_authenticate() failed: Permission denied", Raw));
        t.push(("apache-auth", mode, "[Sat May 18 10:02:11.4 2024] [auth_basic:error] [pid 1] [client {C}:1] AH01618: user {X} not found: /{X}, referer: {X}", Raw));
        t.push(("apache-auth", mode, "[Sat May 18 10:02:11 2024] [error] [client {C}] user {X}: authentication failure for \"/{X}\": Password Mismatch", Raw));
        t.push(("apache-auth", mode, "[Sat May 18 10:02:11 2024] [error] [client {C}] Digest: user `{X}' in realm `{X}' not found: /{X}", Raw));
    }
    for (jail, line) in [
        ("apache-botsearch", "[Sat May 18 10:02:11 2024] [error] [client {C}] File does not exist: /srv/www/phpmyadmin{X}"),
        ("apache-noscript", "[Sat May 18 10:02:11 2024] [error] [client {C}] File does not exist: /srv/{X}.php"),
        ("apache-overflows", "[Sat May 18 10:02:11 2024] [error] [client {C}] Invalid URI in request {X}"),
        ("apache-shellshock", "[Sat May 18 10:02:11.1 2024] [cgi:error] [pid 1] [client {C}:2] AH01215: /bin/bash: warning: HTTP_X: ignoring function definition attempt, referer: {X}"),
        ("apache-nohome", "[Sat May 18 10:02:11 2024] [error] [client {C}] File does not exist: /srv/~{X}"),
        ("apache-modsecurity", "[Sat May 18 10:02:11 2024] [error] [client {C}] ModSecurity: Access denied with code 403 (phase 2). [data \"{X}\"]"),
    ] {
        t.push((jail, "normal", line, Raw));
    }
    let googlebot = r#"{C} - {X} [18/May/2024:10:15:02 +0200] "GET /{X} HTTP/1.1" 200 1 "{X}" "{X} Googlebot/2.1 {X}""#;
    t.push(("apache-fakegooglebot", "normal", googlebot, Backslash));
    t.push(("apache-fakegooglebot", "normal", googlebot, Hex));
    t
}

/// What the client may write: pieces of the daemons' own lines, other addresses, noise.
fn hostile() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just(" from ".to_string()),
        Just(" port 22".to_string()),
        Just(" ssh2".to_string()),
        Just(": ".to_string()),
        Just(" [preauth]".to_string()),
        Just("invalid user ".to_string()),
        Just(", client: ".to_string()),
        Just(", server: s".to_string()),
        Just(r#", request: "GET / HTTP/1.1""#.to_string()),
        Just(r#", host: "h""#.to_string()),
        Just(", referrer: ".to_string()),
        Just("\"".to_string()),
        Just("'".to_string()),
        Just("'@'".to_string()),
        Just("[client ".to_string()),
        Just("]".to_string()),
        Just(":80]".to_string()),
        Just("rip=".to_string()),
        Just(", lip=".to_string()),
        Just("<".to_string()),
        Just(">".to_string()),
        Just("unknown[".to_string()),
        Just("(".to_string()),
        Just(")".to_string()),
        Just(" (using password: YES)".to_string()),
        Just(" FAIL LOGIN: Client \"".to_string()),
        Just("\\".to_string()),
        Just("6.6.6.6".to_string()),
        Just("198.51.100.99".to_string()),
        Just("2001:db8:bad::6".to_string()),
        Just("::ffff:6.6.6.6".to_string()),
        Just(REAL.to_string()),
        "[ -~]{0,8}",
        "\\PC{0,3}",
    ];
    proptest::collection::vec(piece, 0..12).prop_map(|v| v.concat())
}

fn fill(template: &str, x: &str, quotes: Quotes) -> Vec<String> {
    let x = match quotes {
        Quotes::Raw => x.to_string(),
        Quotes::Hex => x.replace('\\', "\\x5C").replace('"', "\\x22"),
        Quotes::Backslash => x.replace('\\', "\\\\").replace('"', "\\\""),
    };
    template
        .replace("{C}", REAL)
        .replace("{X}", &x)
        .split('\n')
        .map(str::to_string)
        .collect()
}

fn accused(jail: &str, mode: &str, lines: &[String]) -> Vec<IpAddr> {
    let mut m = matcher(jail, mode);
    lines
        .iter()
        .flat_map(|l| m.feed(l.as_bytes(), 1000))
        .collect()
}

#[test]
fn every_template_accuses_the_real_client_with_a_harmless_field() {
    let real: IpAddr = REAL.parse().unwrap();
    let mut covered: Vec<&str> = Vec::new();
    for (jail, mode, template, quotes) in templates() {
        let got = accused(jail, mode, &fill(template, "alice", quotes));
        assert_eq!(got, [real], "{jail}[{mode}]: {template}");
        covered.push(jail);
    }
    for name in crate::builtin_names() {
        assert!(covered.contains(&name), "{name} has no hostile template");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn the_client_never_makes_a_jail_accuse_someone_else(x in hostile()) {
        let real: IpAddr = REAL.parse().unwrap();
        for (jail, mode, template, quotes) in templates() {
            for host in accused(jail, mode, &fill(template, &x, quotes)) {
                prop_assert_eq!(host, real, "{}[{}]: {:?}", jail, mode, fill(template, &x, quotes));
            }
        }
    }
}
