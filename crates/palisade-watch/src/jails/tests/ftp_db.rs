//! FTP servers and databases on lines we wrote.

use super::{check, lines};

#[test]
fn vsftpd() {
    check("vsftpd", "normal", &lines![
        ("Sat May 18 12:00:00 2024 [pid 4242] [anonymous] FAIL LOGIN: Client \"203.0.113.200\"", Some("203.0.113.200")),
        ("Sat May 18 12:00:01 2024 [pid 4243] [ftp user] FAIL LOGIN: Client \"::ffff:203.0.113.201\", \"User is not in the allow user list.\"", Some("203.0.113.201")),
        ("[pid 4244] [bob] FAIL LOGIN: Client \"2001:db8::202\"", Some("2001:db8::202")),
        ("May 18 12:00:02 ftp vsftpd: pam_unix(vsftpd:auth): authentication failure; logname= uid=0 euid=0 tty=ftp ruser=carol rhost=203.0.113.203", Some("203.0.113.203")),
        ("May 18 12:00:03 ftp vsftpd: (pam_unix) authentication failure; logname= uid=0 euid=0 tty= ruser= rhost=203.0.113.204", Some("203.0.113.204")),
        ("Sat May 18 12:00:04 2024 [pid 4245] [alice] OK LOGIN: Client \"203.0.113.205\"", None),
        // The user name in brackets is the client's.
        ("Sat May 18 12:00:05 2024 [pid 4246] [x] FAIL LOGIN: Client \"6.6.6.6\", \"y] FAIL LOGIN: Client \"203.0.113.206\"", None),
        ("Sat May 18 12:00:06 2024 [pid 4247] [x] FAIL LOGIN: Client \"6.6.6.6] FAIL LOGIN: Client \"203.0.113.207\"", Some("203.0.113.207")),
    ]);
}

#[test]
fn proftpd() {
    let p = "May 18 12:10:00 ftp proftpd[5150]: ftp.example.org";
    check("proftpd", "normal", &lines![
        (format!("{p} (scanner.example.net[203.0.113.210]) - USER admin: no such user found from scanner.example.net [203.0.113.210] to 192.0.2.1:21"), Some("203.0.113.210")),
        (format!("{p} (::ffff:203.0.113.211[::ffff:203.0.113.211]) - USER alice (Login failed): Incorrect password"), Some("203.0.113.211")),
        (format!("{p} (2001:db8::212[2001:db8::212]) - SECURITY VIOLATION: root login attempted"), Some("2001:db8::212")),
        (format!("{p} (h.example[203.0.113.213]) - Maximum login attempts (3) exceeded"), Some("203.0.113.213")),
        ("2024-05-18 12:10:00,512 ftp proftpd[5151] ftp.example.org (h[203.0.113.214]): USER bob: no such user found from h [203.0.113.215] to 192.0.2.1:21", Some("203.0.113.214")),
        // The user name is the client's; the client comes before it.
        (format!("{p} (h[203.0.113.216]) - USER ftp.example.org (x[6.6.6.6]): no such user found"), Some("203.0.113.216")),
        (format!("{p} (h[203.0.113.217]) - USER alice: Login successful."), None),
    ]);
}

#[test]
fn mysqld_auth() {
    check("mysqld-auth", "normal", &lines![
        ("2024-05-18T12:20:00.123456Z 77 [Note] [MY-010926] [Server] Access denied for user 'root'@'203.0.113.220' (using password: YES)", Some("203.0.113.220")),
        ("2024-05-18 12:20:01 77 [Warning] Access denied for user 'app'@'203.0.113.221' (using password: NO)", Some("203.0.113.221")),
        ("240518 12:20:02 [Warning] Access denied for user 'x'@'2001:db8::222' (using password: YES)", Some("2001:db8::222")),
        ("May 18 12:20:03 db mariadbd[812]: 2024-05-18 12:20:03 77 [Warning] Access denied for user 'root'@'203.0.113.223' (using password: YES)", Some("203.0.113.223")),
        ("mysqld[812]: 2024-05-18 12:20:04 77 [Warning] Access denied for user 'root'@'203.0.113.224' to database 'shop'", Some("203.0.113.224")),
        ("2024-05-18 12:20:05 77 [Warning] Access denied for user 'root'@'localhost' (using password: YES)", None),
        // The user name is the client's.
        ("2024-05-18 12:20:06 77 [Warning] Access denied for user 'x'@'6.6.6.6' (using password: YES)'@'203.0.113.225' (using password: YES)", Some("203.0.113.225")),
        ("2024-05-18 12:20:07 77 [Warning] Access denied for user 'x'@'6.6.6.6' to database 'y'@'203.0.113.226' (using password: YES)", None),
        ("2024-05-18 12:20:08 77 [Warning] Aborted connection 77 to db: 'shop' user: 'app' host: '203.0.113.227' (Got an error reading communication packets)", None),
    ]);
}
