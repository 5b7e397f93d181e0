//! Postfix and Dovecot on lines we wrote.

use super::{check, lines, sequence};

const SMTPD: &str = "May 18 10:30:44 mx postfix/smtpd[8812]:";

#[test]
fn postfix_rejections() {
    let p = SMTPD;
    let cases = lines![
        (format!("{p} NOQUEUE: reject: RCPT from unknown[203.0.113.150]: 554 5.7.1 <x@example.net>: Relay access denied; from=<a@example.com> to=<x@example.net> proto=ESMTP helo=<pc>"), Some("203.0.113.150")),
        (format!("{p} NOQUEUE: reject: RCPT from mail.example.com[198.51.100.151]: 550 5.1.1 <nobody@example.org>: Recipient address rejected: User unknown in local recipient table; from=<> to=<nobody@example.org> proto=ESMTP helo=<mail.example.com>"), Some("198.51.100.151")),
        (format!("{p} NOQUEUE: reject: EHLO from unknown[2001:db8::152]: 504 5.5.2 <localhost>: Helo command rejected: need fully-qualified hostname; proto=ESMTP helo=<localhost>"), Some("2001:db8::152")),
        (format!("{p} NOQUEUE: reject: RCPT from unknown[203.0.113.153]:25501: 554 5.7.1 Service unavailable; Client host [203.0.113.153] blocked using zen.example.org; from=<a@b> to=<c@d> proto=ESMTP helo=<x>"), Some("203.0.113.153")),
        (format!("{p} 4BD0A14C4B: reject: RCPT from unknown[203.0.113.154]: 450 4.7.25 Client host rejected: cannot find your hostname, [203.0.113.154]; from=<a@b> to=<c@d> proto=ESMTP helo=<x>"), Some("203.0.113.154")),
        (format!("{p} 4BD0A14C4B: milter-reject: END-OF-MESSAGE from unknown[203.0.113.155]: 550 5.7.1 Command rejected; from=<a@b> to=<c@d> proto=ESMTP helo=<x>"), Some("203.0.113.155")),
        (format!("{p} improper command pipelining after EHLO from unknown[203.0.113.156]: QUIT\\r\\n"), Some("203.0.113.156")),
        (format!("{p} too many errors after RCPT from unknown[203.0.113.157]"), Some("203.0.113.157")),
        ("May 18 10:30:44 mx postfix-in/submission/smtpd[8813]: NOQUEUE: reject: RCPT from x.example[203.0.113.158]: 450 4.1.8 <a@nowhere.invalid>: Sender address rejected: Domain not found; from=<a@nowhere.invalid> to=<b@example.org> proto=ESMTP helo=<x>", Some("203.0.113.158")),
        // The client's HELO and addresses come after its address.
        (format!("{p} NOQUEUE: reject: RCPT from unknown[203.0.113.159]: 554 5.7.1 <x>: Relay access denied; from=<a@b> to=<c@d> proto=ESMTP helo=<unknown[6.6.6.6]: 554 5.7.1 <x>: Relay access denied>"), Some("203.0.113.159")),
        // Greylisting is not misbehaviour; connections are not failures.
        (format!("{p} NOQUEUE: reject: RCPT from mail.example.com[198.51.100.160]: 450 4.2.0 <b@example.org>: Recipient address rejected: Greylisted; from=<a@example.com> to=<b@example.org> proto=ESMTP helo=<mail.example.com>"), None),
        (format!("{p} connect from unknown[203.0.113.150]"), None),
        (format!("{p} lost connection after AUTH from unknown[203.0.113.161]"), None),
        ("May 18 10:30:49 mx myapp[99]: NOQUEUE: reject: RCPT from unknown[203.0.113.162]: 554 5.7.1 Relay access denied", None),
    ];
    check("postfix", "normal", &cases);
    check("postfix", "aggressive", &lines![
        (format!("{p} lost connection after AUTH from unknown[203.0.113.161]"), Some("203.0.113.161")),
        (format!("{p} disconnect from unknown[203.0.113.163] ehlo=1 auth=0/1 quit=1 commands=2/3"), Some("203.0.113.163")),
        (format!("{p} disconnect from unknown[203.0.113.164] ehlo=1 auth=1 quit=1 commands=3"), None),
        ("May 18 10:30:44 mx postfix/postscreen[77]: PREGREET 11 after 0.07 from [203.0.113.165]:51512: EHLO x\\r\\n", Some("203.0.113.165")),
        ("May 18 10:30:44 mx postfix/postscreen[77]: COMMAND COUNT LIMIT from [2001:db8::166]:51513 after RCPT", Some("2001:db8::166")),
    ]);
}

#[test]
fn postfix_bounce_for_an_unknown_user_is_the_clients_by_queue_id() {
    sequence("postfix", "normal", &lines![
        ("May 18 10:31:00 mx postfix/smtpd[9001]: 3F2A81C0B2: client=unknown[203.0.113.170]", &[] as &[&str]),
        ("May 18 10:31:00 mx postfix/smtpd[9001]: 4C1D2E0A11: client=mail.example.com[198.51.100.171], sasl_method=PLAIN, sasl_username=alice", &[]),
        ("May 18 10:31:00 mx postfix/cleanup[9002]: 3F2A81C0B2: message-id=<x@y>", &[]),
        ("May 18 10:31:01 mx postfix/local[9003]: 3F2A81C0B2: to=<nosuchuser@example.org>, relay=local, delay=0.1, delays=0/0/0/0, dsn=5.1.1, status=bounced (unknown user: \"nosuchuser\")", &["203.0.113.170"]),
        ("May 18 10:31:01 mx postfix/local[9003]: 4C1D2E0A11: to=<bob@example.org>, relay=local, delay=0.1, delays=0/0/0/0, dsn=2.0.0, status=sent (delivered to mailbox)", &[]),
        ("May 18 10:31:02 mx postfix/local[9003]: 5AAAAAAAAA: to=<who@example.org>, relay=local, delay=0.1, delays=0/0/0/0, dsn=5.1.1, status=bounced (unknown user: \"who\")", &[]),
    ]);
}

#[test]
fn postfix_sasl() {
    check("postfix-sasl", "normal", &lines![
        ("May 18 10:30:44 mx postfix/smtps/smtpd[8812]: warning: unknown[203.0.113.150]: SASL LOGIN authentication failed: UGFzc3dvcmQ6", Some("203.0.113.150")),
        ("warning: mail-relay.example.net[198.51.100.151]: SASL PLAIN authentication failed: ", Some("198.51.100.151")),
        ("May 18 10:30:45 mx postfix/submission/smtpd[8813]: warning: unknown[2001:db8::152]: SASL CRAM-MD5 authentication failed: authentication failure", Some("2001:db8::152")),
        ("May 18 10:30:45 mx postfix/smtpd[8813]: warning: unknown[198.51.100.153]:54211: SASL login authentication failed: UGFzc3dvcmQ6", Some("198.51.100.153")),
        ("postfix/smtpd[8813]: warning: unknown[198.51.100.154]: SASL PLAIN authentication failed:", Some("198.51.100.154")),
        ("May 18 10:30:46 mx postfix/smtpd[8814]: connect from unknown[203.0.113.150]", None),
        ("May 18 10:30:47 mx postfix/smtpd[8814]: lost connection after AUTH from unknown[203.0.113.150]", None),
        ("May 18 10:30:48 mx postfix/smtpd[8814]: warning: hostname 1-2-3-4.example does not resolve to address 203.0.113.153", None),
        ("May 18 10:30:48 mx postfix/smtpd[8814]: warning: unknown[203.0.113.155]: SASL LOGIN authentication failed: Connection lost to authentication server", None),
        ("May 18 10:30:49 mx dovecot[99]: warning: unknown[203.0.113.154]: SASL LOGIN authentication failed: x", None),
    ]);
}

#[test]
fn dovecot() {
    let d = "May 18 11:00:00 mx dovecot:";
    let cases = lines![
        (format!("{d} imap-login: Disconnected (auth failed, 3 attempts in 12 secs): user=<alice>, method=PLAIN, rip=203.0.113.180, lip=192.0.2.1, TLS, session=<abc>"), Some("203.0.113.180")),
        (format!("{d} pop3-login: Aborted login (auth failed, 1 attempts in 2 secs): user=<bob>, method=LOGIN, rip=2001:db8::181, lip=2001:db8::1, session=<def>"), Some("2001:db8::181")),
        (format!("{d} imap-login: Aborted login (tried to use disallowed plaintext auth): rip=203.0.113.182, lip=192.0.2.1, session=<ghi>"), Some("203.0.113.182")),
        (format!("{d} submission-login: Client has quit the connection (auth failed, 1 attempts in 3 secs): user=<c>, method=PLAIN, rip=203.0.113.183, lip=192.0.2.1"), Some("203.0.113.183")),
        (format!("{d} imap-login: Disconnected: Connection closed: read(size=1003) failed: Connection reset by peer (auth failed, 1 attempts in 0 secs): user=<t@example.org>, rip=203.0.113.184, lip=192.0.2.1"), Some("203.0.113.184")),
        (format!("{d} auth-worker(1234): pam(carol,203.0.113.185,<Aa1Bb2>): pam_authenticate() failed: Authentication failure (Password mismatch?)"), Some("203.0.113.185")),
        (format!("{d} auth: passwd-file(dave,203.0.113.186): unknown user"), Some("203.0.113.186")),
        (format!("{d} auth: ldap(dave@example.org,203.0.113.196,<Zm9v>): Password mismatch (for LDAP bind) (SHA1 of given password: 0badc0)"), Some("203.0.113.196")),
        ("May 18 11:00:00 mx auth-worker(55): Info: conn unix:auth-worker (uid=97): auth-worker<9>: sql(erin@example.org,203.0.113.187): Password mismatch", Some("203.0.113.187")),
        ("May 18 11:00:00 mx auth: pam_unix(dovecot:auth): authentication failure; logname= uid=0 euid=0 tty=dovecot ruser=frank rhost=203.0.113.188  user=frank", Some("203.0.113.188")),
        ("dovecot[700]: imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<g>, method=PLAIN, rip=203.0.113.189, lip=192.0.2.1", Some("203.0.113.189")),
        // The user name is the client's: one reading, or nobody.
        (format!("{d} imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<x>, rip=6.6.6.6, lip=y>, method=PLAIN, rip=203.0.113.190, lip=192.0.2.1"), None),
        // Dovecot writes nothing after `unknown user`: the name holds the first address.
        (format!("{d} auth: passwd-file(x,6.6.6.6): unknown user,203.0.113.191): unknown user"), Some("203.0.113.191")),
        ("May 18 11:00:00 mx auth: pam_unix(dovecot:auth): authentication failure; logname= uid=0 euid=0 tty=dovecot ruser=rhost=6.6.6.6 rhost=203.0.113.192", Some("203.0.113.192")),
        // Logins and disconnects without an attempt (aggressive mode's).
        (format!("{d} imap-login: Login: user=<alice>, method=PLAIN, rip=203.0.113.193, lip=192.0.2.1, mpid=1, TLS"), None),
        (format!("{d} imap-login: Disconnected (no auth attempts in 0 secs): user=<>, rip=203.0.113.194, lip=192.0.2.1, TLS handshaking: SSL_accept() failed"), None),
    ];
    check("dovecot", "normal", &cases);
    check("dovecot", "aggressive", &lines![
        (format!("{d} imap-login: Disconnected (no auth attempts in 0 secs): user=<>, rip=203.0.113.194, lip=192.0.2.1, TLS handshaking: SSL_accept() failed"), Some("203.0.113.194")),
        (format!("{d} imap-login: Disconnected (client didn't finish SASL auth, waited 2 secs): user=<>, method=PLAIN, rip=203.0.113.195, lip=192.0.2.1"), Some("203.0.113.195")),
    ]);
}
