//! nginx and Apache jails on lines we wrote.

use super::{check, lines};

const NGX: &str = "2024/05/18 09:14:03 [error] 1911#1911: *4402";
const NGX_TAIL: &str = r#"server: intranet.example.org, request: "GET /admin/ HTTP/1.1", host: "intranet.example.org""#;

#[test]
fn nginx_http_auth() {
    let (p, tail) = (NGX, NGX_TAIL);
    let cases = lines![
        (
            format!(
                r#"{p} user "admin" was not found in "/etc/nginx/.htpasswd", client: 203.0.113.18, {tail}"#
            ),
            Some("203.0.113.18")
        ),
        (
            format!(
                r#"{p} user "bob smith": password mismatch, client: 2001:db8:1::42, {tail}, referrer: "https://intranet.example.org/""#
            ),
            Some("2001:db8:1::42")
        ),
        (
            r#"2024/05/18 09:14:03 [info] 1911#1911: *4403 no user/password was provided for basic authentication, client: 192.0.2.44, server: , request: "GET / HTTP/2.0", host: "intranet.example.org""#,
            Some("192.0.2.44")
        ),
        (
            format!(
                r#"Jun  1 10:00:00 web nginx[983]: {p} user "x" was not found in "/etc/nginx/htpasswd", client: 198.51.100.3, {tail}"#
            ),
            Some("198.51.100.3")
        ),
        (
            format!(
                r#"nginx[983]: [error] 1911#1911: *4402 user "y": password mismatch, client: 198.51.100.4, {tail}"#
            ),
            Some("198.51.100.4")
        ),
        (
            format!(
                r#"{p} PAM: user 'carol' - not authenticated: Authentication failure, client: 198.51.100.5, {tail}"#
            ),
            Some("198.51.100.5")
        ),
        // Injection: the user name carries a whole fake tail, or another message.
        (
            format!(
                r#"{p} user "a", client: 6.6.6.6, {tail}": password mismatch, client: 192.0.2.45, {tail}"#
            ),
            Some("192.0.2.45")
        ),
        (
            format!(
                r#"{p} user "t": password mismatch, client: 6.6.6.6, server: t, request: "GET / HTTP/1.1", host: "h"": was not found in "/etc/nginx/.htpasswd", client: 192.0.2.47, {tail}"#
            ),
            Some("192.0.2.47")
        ),
        // The referrer is the client's too: a second reading, nobody.
        (
            format!(
                r#"{p} user "u": password mismatch, client: 192.0.2.48, {tail}, referrer: "x": password mismatch, client: 6.6.6.6, {tail}"#
            ),
            None
        ),
        (
            format!(
                r#"{p} user "a": password mismatch, client: 192.0.2.46, server: x, request: "GET /", client: 6.6.6.6, server: x, request: "GET / HTTP/1.1", host: "y""#
            ),
            None
        ),
        (
            format!(
                r#"{p} open() "/var/www/html/favicon.ico" failed (2: No such file or directory), client: 192.0.2.5, {tail}"#
            ),
            None
        ),
        (
            format!(
                r#"{p} limiting requests, excess: 20.340 by zone "perip", client: 198.51.100.200, {tail}"#
            ),
            None
        ),
        (
            r#"192.0.2.7 - admin [18/May/2024:09:14:03 +0200] "GET /admin/ HTTP/1.1" 401 179 "-" "curl/8.5.0""#,
            None
        ),
        (
            r#"2024/05/18 09:14:05 [crit] 1911#1911: *4404 SSL_do_handshake() failed (SSL: error:0A0000C6:SSL routines::packet length too long) while SSL handshaking, client: 198.51.100.6, server: 0.0.0.0:443"#,
            None
        ),
    ];
    check("nginx-http-auth", "normal", &cases);
    check(
        "nginx-http-auth",
        "aggressive",
        &lines![(
            r#"2024/05/18 09:14:05 [crit] 1911#1911: *4404 SSL_do_handshake() failed (SSL: error:0A0000C6:SSL routines::packet length too long) while SSL handshaking, client: 198.51.100.6, server: 0.0.0.0:443"#,
            Some("198.51.100.6")
        ),],
    );
}

#[test]
fn nginx_limit_req() {
    let t =
        r#"server: shop.example.com, request: "POST /login HTTP/1.1", host: "shop.example.com""#;
    check(
        "nginx-limit-req",
        "normal",
        &lines![
            (
                format!(
                    r#"2024/05/18 09:20:00 [error] 1911#1911: *5521 limiting requests, excess: 20.340 by zone "perip", client: 198.51.100.200, {t}"#
                ),
                Some("198.51.100.200")
            ),
            (
                format!(
                    r#"2024/05/18 09:20:01 [warn] 1911#1911: *5522 limiting requests, excess: 5.000 by zone "login", client: 2001:db8::c8, {t}, referrer: "https://shop.example.com/""#
                ),
                Some("2001:db8::c8")
            ),
            (
                format!(
                    r#"2024/05/18 09:20:02 [error] 1911#1911: *5523 limiting requests, dry run, excess: 20.340 by zone "perip", client: 198.51.100.201, {t}"#
                ),
                None
            ),
            (
                format!(
                    r#"2024/05/18 09:20:03 [warn] 1911#1911: *5524 delaying request, excess: 0.500, by zone "perip", client: 198.51.100.202, {t}"#
                ),
                None
            ),
            (
                format!(
                    r#"2024/05/18 09:20:04 [error] 1911#1911: *5525 limiting connections by zone "addr", client: 198.51.100.203, {t}"#
                ),
                None
            ),
        ],
    );
}

#[test]
fn nginx_botsearch() {
    let d = "[18/May/2024:10:15:02 +0200]";
    check(
        "nginx-botsearch",
        "normal",
        &lines![
            (
                format!(
                    r#"198.51.100.40 - - {d} "GET //phpMyAdmin-5.2.1/index.php HTTP/1.1" 404 153 "-" "Mozilla/5.0""#
                ),
                Some("198.51.100.40")
            ),
            (
                format!(r#"198.51.100.41 - - {d} "POST /wp-login.php HTTP/1.1" 404 153 "-" "-""#),
                Some("198.51.100.41")
            ),
            (
                format!(r#"2001:db8::42 - - {d} "GET /.env HTTP/1.1" 404 153 "-" "-""#),
                Some("2001:db8::42")
            ),
            (
                format!(r#"198.51.100.43 - - {d} "HEAD /cgi-bin/luci HTTP/1.0" 404 0 "-" "-""#),
                Some("198.51.100.43")
            ),
            (
                format!(
                    r#"2024/05/18 10:15:02 [error] 811#811: *77 open() "/srv/www/roundcube/index.php" failed (2: No such file or directory), client: 198.51.100.44, server: example.org, request: "GET /roundcube/index.php HTTP/1.1", host: "example.org""#
                ),
                Some("198.51.100.44")
            ),
            (
                format!(
                    r#"2024/05/18 10:15:03 [error] 811#811: *78 "/srv/www/phpmyadmin/index.html" is not found (2: No such file or directory), client: 198.51.100.45, server: example.org, request: "GET /phpmyadmin/ HTTP/1.1", host: "example.org""#
                ),
                Some("198.51.100.45")
            ),
            // Found, redirected, or not a probe.
            (
                format!(
                    r#"198.51.100.46 - - {d} "GET /wp-login.php HTTP/1.1" 200 4012 "-" "Mozilla/5.0""#
                ),
                None
            ),
            (
                format!(
                    r#"198.51.100.47 - - {d} "GET /mailing-list.html HTTP/1.1" 404 153 "-" "Mozilla/5.0""#
                ),
                None
            ),
            (
                format!(r#"198.51.100.48 - - {d} "GET /blog/mail HTTP/1.1" 404 153 "-" "-""#),
                None
            ),
        ],
    );
}

#[test]
fn nginx_bad_request() {
    let d = "[18/May/2024:10:15:02 +0200]";
    check(
        "nginx-bad-request",
        "normal",
        &lines![
            (
                format!(r#"198.51.100.50 - - {d} "" 400 0 "-" "-""#),
                Some("198.51.100.50")
            ),
            (
                format!(r#"198.51.100.51 - - {d} "\x16\x03\x01\x00\xF4\x01" 400 157 "-" "-""#),
                Some("198.51.100.51")
            ),
            (
                format!(
                    r#"www.example.org 198.51.100.52 - - {d} "GET / HTTP/1.1" 400 157 "-" "-""#
                ),
                Some("198.51.100.52")
            ),
            (
                format!(r#"198.51.100.53 - - {d} "GET / HTTP/1.1" 200 612 "-" "-""#),
                None
            ),
            (
                format!(
                    r#"198.51.100.54 - - {d} "GET /?q=\x22 400 \x22 HTTP/1.1" 404 153 "-" "-""#
                ),
                None
            ),
        ],
    );
}

const AP: &str = "[Sat May 18 10:02:11.482913 2024]";

#[test]
fn apache_auth_2_4_and_2_2_basic_and_digest() {
    let p = AP;
    let cases = lines![
        (format!(r#"{p} [auth_basic:error] [pid 2231:tid 140330] [client 203.0.113.71:51234] AH01617: user alice: authentication failure for "/private": Password Mismatch"#), Some("203.0.113.71")),
        (format!("{p} [auth_basic:error] [pid 2231:tid 140331] [client 2001:db8::71:51236] AH01618: user mallory not found: /private"), Some("2001:db8::71")),
        (format!("{p} [auth_basic:error] [pid 2231:tid 140331] [client [2001:db8::72]:5123] AH01618: user mallory not found: /private"), Some("2001:db8::72")),
        (format!("{p} [auth_basic:error] [pid 2231:tid 140332] [client 198.51.100.8:4400] AH01614: client used wrong authentication scheme: /admin, referer: https://example.org/"), Some("198.51.100.8")),
        (format!("{p} [authz_core:error] [pid 2232:tid 140333] [client 198.51.100.9:4401] AH01630: client denied by server configuration: /var/www/html/.git/config"), Some("198.51.100.9")),
        (format!(r#"{p} [authz_core:error] [pid 2232] [client 198.51.100.10:4402] AH01631: user alice: authorization failure for "/private/x": "#), Some("198.51.100.10")),
        (format!("{p} [authz_owner:error] [pid 2232] [client 198.51.100.11:4403] AH01637: Authorization of user bob to access /owner/x failed, reason: file owner root does not match."), Some("198.51.100.11")),
        (format!("{p} [auth_digest:error] [pid 2233] [client 198.51.100.12:4404] AH01792: user bob: password mismatch: /digest/"), Some("198.51.100.12")),
        (format!("{p} [auth_digest:error] [pid 2233] [client 198.51.100.13:4405] AH01790: user `bob' in realm `staff area' not found: /digest/"), Some("198.51.100.13")),
        (format!("{p} [auth_digest:error] [pid 2233] [client 198.51.100.14:4406] AH01788: realm mismatch - got `other' but expected `staff area'"), Some("198.51.100.14")),
        (format!("{p} [auth_digest:error] [pid 2233] [client 198.51.100.15:4407] AH01789: unknown algorithm `SHA-999' received: /digest/"), Some("198.51.100.15")),
        (format!("{p} [auth_digest:error] [pid 2233] [client 198.51.100.16:4408] AH01777: invalid nonce Zm9v received - user attempted time travel"), Some("198.51.100.16")),
        (format!("{p} [ssl:error] [pid 2234] [client 198.51.100.17:4409] AH02032: Hostname a.example provided via SNI and hostname b.example provided via HTTP have no compatible SSL setup"), Some("198.51.100.17")),
        // Apache 2.2: no module, no process, no port.
        ("[Sat May 18 10:02:11 2024] [error] [client 198.51.100.18] user nobody not found: /private", Some("198.51.100.18")),
        ("[Sat May 18 10:02:11 2024] [error] [client 2001:db8::19] user nobody not found: /", Some("2001:db8::19")),
        ("[Sat May 18 10:02:11 2024] [error] [client 198.51.100.20] Digest: user bob: password mismatch: /digest/", Some("198.51.100.20")),
        ("[Sat May 18 10:02:11 2024] [error] [client 198.51.100.21] client denied by server configuration: /srv/private", Some("198.51.100.21")),
        ("[Sat May 18 10:02:11 2024] [error] [client 198.51.100.22] user root not found", Some("198.51.100.22")),
        // Through syslog.
        ("May 18 10:02:11 web apache2[2231]: [authz_core:error] [pid 2231] [client 198.51.100.23:4410] AH01630: client denied by server configuration: /srv/", Some("198.51.100.23")),
        // Injection: the client's part comes after its address.
        (format!("{p} [auth_basic:error] [pid 2231:tid 140334] [client 192.0.2.80:5555] AH01618: user x [client 6.6.6.6:1] not found: /"), Some("192.0.2.80")),
        ("[Sat May 18 10:02:11 2024] [error] [client 192.0.2.81] File does not exist: /srv/[client 6.6.6.6] user root not found", None),
        // Not authentication failures.
        (format!("{p} [core:notice] [pid 2231] AH00094: Command line: '/usr/sbin/apache2'"), None),
        (format!("{p} [php:error] [pid 2233] [client 192.0.2.82:5556] PHP Warning:  Undefined variable $x in /var/www/html/index.php on line 3"), None),
        (format!("{p} [ssl:info] [pid 2234] [client 192.0.2.83:5557] AH01964: Connection to child 1 established (server example.org:443)"), None),
        (format!("{p} [auth_digest:error] [pid 2233] [client 192.0.2.84:4406] AH01776: invalid nonce Zm9v received - hash is not abc"), None),
    ];
    check("apache-auth", "normal", &cases);
    // mod_evasive's refusals are aggressive mode's.
    let evasive = format!("{p} [evasive20:error] [pid 7] [client 192.0.2.85:1] client denied by server configuration: /x");
    check("apache-auth", "normal", &lines![(evasive, None)]);
    check(
        "apache-auth",
        "aggressive",
        &lines![(evasive, Some("192.0.2.85"))],
    );
}

#[test]
fn apache_badbots() {
    let d = "[18/May/2024:10:15:02 +0200]";
    check(
        "apache-badbots",
        "normal",
        &lines![
            (
                format!(
                    r#"198.51.100.33 - - {d} "GET /contact HTTP/1.1" 200 5120 "-" "EmailCollector/1.0""#
                ),
                Some("198.51.100.33")
            ),
            (
                format!(
                    r#"www.example.org 198.51.100.34 - - {d} "GET / HTTP/1.1" 200 512 "-" "Mozilla/5.00 (Nikto/2.1.6) (Evasions:None) (Test:000003)""#
                ),
                Some("198.51.100.34")
            ),
            (
                format!(
                    r#"2001:db8::35 - - {d} "GET /?id=1%27 HTTP/1.1" 500 100 "-" "sqlmap/1.7.2#stable (https://sqlmap.org)""#
                ),
                Some("2001:db8::35")
            ),
            (
                format!(
                    r#"192.0.2.36 - - {d} "GET / HTTP/1.1" 200 612 "-" "Mozilla/5.0 \"compatible\" zgrab/0.x""#
                ),
                Some("192.0.2.36")
            ),
            (
                format!(
                    r#"192.0.2.37 - - {d} "GET / HTTP/1.1" 200 612 "-" "Mozilla/5.0 (X11; Linux x86_64; rv:126.0) Gecko/20100101 Firefox/126.0""#
                ),
                None
            ),
            (
                format!(
                    r#"192.0.2.38 - - {d} "GET /sqlmap HTTP/1.1" 404 0 "https://example.org/?q=Nikto" "Mozilla/5.0 (X11; Linux x86_64) Firefox/126.0""#
                ),
                None
            ),
            (
                format!(
                    r#"192.0.2.39 - - {d} "GET /\" \"EmailCollector\" HTTP/1.1" 404 0 "-" "curl/8.5.0""#
                ),
                None
            ),
            (
                format!(r#"webhost.example - - {d} "GET / HTTP/1.1" 200 1 "-" "TrackBack/1.02""#),
                None
            ),
        ],
    );
}

#[test]
fn apache_scans_and_overflows() {
    let p = "[Sat May 18 10:02:11.482913 2024] [core:error] [pid 2231] [client 198.51.100.60:4000]";
    let o = "[Sat May 18 10:02:11 2024] [error] [client 198.51.100.61]";
    check(
        "apache-botsearch",
        "normal",
        &lines![
            (
                format!("{p} AH00128: File does not exist: /srv/www/phpmyadmin"),
                Some("198.51.100.60")
            ),
            (
                format!("{o} File does not exist: /var/www/webmail, referer: http://example.org/"),
                Some("198.51.100.61")
            ),
            (
                format!("{o} script '/srv/www/wp-login.php' not found or unable to stat"),
                Some("198.51.100.61")
            ),
            (
                format!("{o} File does not exist: /srv/www/blog/mail.php"),
                None
            ),
            (
                format!("{o} File does not exist: /srv/www/favicon.ico"),
                None
            ),
        ],
    );
    check("apache-noscript", "normal", &lines![
        (format!("{o} script not found or unable to stat: /usr/lib/cgi-bin/php5"), Some("198.51.100.61")),
        (format!("{o} File does not exist: /srv/www/setup.php"), Some("198.51.100.61")),
        (format!("{o} script '/srv/www/shell.asp' not found or unable to stat"), Some("198.51.100.61")),
        ("[Sat May 18 10:02:11.1 2024] [proxy_fcgi:error] [pid 7:tid 8] [client 198.51.100.62:9] AH01071: Got error 'Primary script unknown'", Some("198.51.100.62")),
        (format!("{o} File does not exist: /srv/www/robots.txt"), None),
    ]);
    check(
        "apache-overflows",
        "normal",
        &lines![
            (
                format!(r"{o} Invalid URI in request \x16\x03\x01\x02"),
                Some("198.51.100.61")
            ),
            (
                format!("{p} AH00126: Invalid URI in request GET /../../etc/passwd HTTP/1.1"),
                Some("198.51.100.60")
            ),
            (
                format!("{o} request failed: URI too long (longer than 8190)"),
                Some("198.51.100.61")
            ),
            (
                format!("{o} Invalid method in request CONNECT-ME"),
                Some("198.51.100.61")
            ),
            (
                format!("{o} request failed: error reading the headers"),
                None
            ),
        ],
    );
    check("apache-shellshock", "normal", &lines![
        ("[Sat May 18 10:02:11.1 2024] [cgi:error] [pid 1] [client 198.51.100.63:2] AH01215: /bin/bash: warning: HTTP_USER_AGENT: ignoring function definition attempt", Some("198.51.100.63")),
        ("[Sat May 18 10:02:11.1 2024] [cgi:error] [pid 1] [client 198.51.100.64:2] AH01215: /bin/bash: error importing function definition for `HTTP_X'", Some("198.51.100.64")),
        ("[Sat May 18 10:02:11.1 2024] [cgi:error] [pid 1] [client 198.51.100.65:2] AH01215: /bin/bash: line 1: x: command not found", None),
    ]);
    check("apache-nohome", "normal", &lines![
        (format!("{o} File does not exist: /srv/www/~root"), Some("198.51.100.61")),
        ("[Sat May 18 10:02:11.1 2024] [core:info] [pid 1:tid 2] [client 198.51.100.66:3] AH00128: File does not exist: /srv/www/~alice/.ssh", Some("198.51.100.66")),
        (format!("{o} File does not exist: /srv/www/docs"), None),
    ]);
    check(
        "apache-modsecurity",
        "normal",
        &lines![
            (
                format!(
                    r#"{p} [client 198.51.100.60] ModSecurity: Access denied with code 403 (phase 2). Pattern match "x" at ARGS:q. [id "942100"] [uri "/search"]"#
                ),
                Some("198.51.100.60")
            ),
            (
                format!(r#"{o} ModSecurity: Warning. Pattern match "x" at ARGS:q. [id "942100"]"#),
                None
            ),
        ],
    );
}
