//! `apache-fakegooglebot`: access log lines whose user agent claims Googlebot, in Apache's
//! and nginx's formats, accuse the address the server wrote first and never one the client
//! wrote into its request, referer or user agent; and the jail cannot be enabled without
//! the set of Google's real networks.

use palisade_core::policy::Services;

use super::{check, lines};
use crate::parse_watch_config;

const JAIL: &str = "apache-fakegooglebot";
const UA: &str = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";

#[test]
fn requests_claiming_googlebot_accuse_the_client() {
    let d = "[18/May/2024:10:15:02 +0200]";
    check(
        JAIL,
        "normal",
        &lines![
            // Apache combined.
            (
                format!(r#"198.51.100.40 - - {d} "GET / HTTP/1.1" 200 5120 "-" "{UA}""#),
                Some("198.51.100.40")
            ),
            // vhost_combined: the virtual host first.
            (
                format!(
                    r#"www.example.org:443 198.51.100.41 - - {d} "GET /robots.txt HTTP/1.1" 200 70 "-" "{UA}""#
                ),
                Some("198.51.100.41")
            ),
            // nginx combined, IPv6, no body, a smartphone Googlebot.
            (
                format!(
                    r#"2001:db8::42 - - {d} "GET /a HTTP/2.0" 304 0 "-" "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)""#
                ),
                Some("2001:db8::42")
            ),
            // Googlebot-Image, a size of `-`, fields after the user agent.
            (
                format!(
                    r#"192.0.2.43 - - {d} "GET /i.png HTTP/1.1" 200 - "-" "Googlebot-Image/1.0" 0.004 TLSv1.3"#
                ),
                Some("192.0.2.43")
            ),
            // A logged-in user name and one more field before the time; a host after it.
            (
                format!(
                    r#"192.0.2.44 - alice - {d} example.com "GET / HTTP/1.1" 200 814 "-" "{UA}" + 293 1149 546"#
                ),
                Some("192.0.2.44")
            ),
            // Other crawlers and browsers are no claim.
            (
                format!(
                    r#"192.0.2.45 - - {d} "GET / HTTP/1.1" 200 512 "-" "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)""#
                ),
                None
            ),
            (
                format!(
                    r#"192.0.2.46 - - {d} "GET / HTTP/1.1" 200 512 "-" "NOT A __GOOGLE_BOT__""#
                ),
                None
            ),
            (
                format!(
                    r#"192.0.2.47 - - {d} "GET / HTTP/1.1" 200 512 "-" "AdsBot-Google (+http://www.google.com/adsbot.html)""#
                ),
                None
            ),
            // The word in the URL or the referer is no claim either.
            (
                format!(
                    r#"192.0.2.48 - - {d} "GET /Googlebot/2.1 HTTP/1.1" 404 1 "http://x/Googlebot/2.1" "curl/8.5.0""#
                ),
                None
            ),
            // Not an access log line.
            (
                format!("[Sat May 18 10:02:11 2024] [error] [client 192.0.2.49] {UA}"),
                None
            ),
        ],
    );
}

#[test]
fn addresses_the_client_writes_are_never_accused() {
    let d = "[18/May/2024:10:15:02 +0200]";
    let fake = format!(r#"6.6.6.6 - - {d} \"GET / HTTP/1.1\" 200 1 \"-\" \"{UA}\""#);
    let fake_nginx = fake.replace("\\\"", "\\x22");
    check(
        JAIL,
        "normal",
        &lines![
            // A user agent that writes a whole log line claiming Googlebot for another
            // address (Apache escapes its quotes as `\"`, nginx as `\x22`).
            (
                format!(r#"192.0.2.50 - - {d} "GET / HTTP/1.1" 200 1 "-" "x\"\n{fake}""#),
                Some("192.0.2.50")
            ),
            (
                format!(
                    r#"192.0.2.51 - - {d} "GET / HTTP/1.1" 200 1 "-" "{fake_nginx} Googlebot/2.1""#
                ),
                Some("192.0.2.51")
            ),
            // The user agent starts like a line of its own after escaped quotes.
            (
                format!(
                    r#"192.0.2.52 - - {d} "GET / HTTP/1.1" 200 1 "-" "\" 6.6.6.6 - - {d} \"GET / HTTP/1.1\" 200 1 \"-\" \"{UA}""#
                ),
                Some("192.0.2.52")
            ),
            // An address in the request and the referer, the claim in the user agent.
            (
                format!(
                    r#"192.0.2.53 - - {d} "GET /6.6.6.6 HTTP/1.1" 200 1 "2001:db8:bad::6" "{UA} 6.6.6.6""#
                ),
                Some("192.0.2.53")
            ),
            // A user name that is an address: the server's first field still wins.
            (
                format!(r#"192.0.2.54 - 6.6.6.6 {d} "GET / HTTP/1.1" 200 1 "-" "{UA}""#),
                Some("192.0.2.54")
            ),
        ],
    );
}

fn parse(text: &str) -> Result<crate::WatchConfig, palisade_core::policy::ConfigError> {
    let no_filters = |_: &std::path::Path| Box::new(crate::MemorySource::new()) as _;
    parse_watch_config("palisade.toml", text, &Services::new(""), &no_filters)
}

#[test]
fn the_jail_needs_the_set_of_googles_networks() {
    let e = parse("[watch]\nset = \"bans\"\n\n[jails.apache-fakegooglebot]\nmaxretry = 1\n")
        .unwrap_err();
    let message = e.to_string();
    assert_eq!(e.line, 4, "{message}");
    assert!(
        message.starts_with("palisade.toml:4: jails.apache-fakegooglebot: "),
        "{message}"
    );
    assert!(message.contains("genuine = \"googlebot\""), "{message}");
    assert!(message.contains("googlebot.json"), "{message}");

    let e = parse("[jails.apache-fakegooglebot]\ngenuine = \"not a set\"\n").unwrap_err();
    assert_eq!(e.line, 2);
    assert!(
        e.to_string().contains("jails.apache-fakegooglebot.genuine"),
        "{e}"
    );

    let c = parse("[jails.apache-fakegooglebot]\ngenuine = \"googlebot\"\n").unwrap();
    assert_eq!(c.jails[0].genuine.as_deref(), Some("googlebot"));
    assert_eq!(
        c.jails[0].source,
        crate::Source::File("/var/log/apache2/access.log".into())
    );
    // nginx's access log, and any other jail may name a genuine set too.
    let c = parse(
        "[jails.apache-fakegooglebot]\ngenuine = \"googlebot\"\nfile = \"/var/log/nginx/access.log\"\n\n[jails.sshd]\ngenuine = \"office\"\n",
    )
    .unwrap();
    assert_eq!(c.jails[1].genuine.as_deref(), Some("office"));
    let c = parse("[jails.sshd]\n").unwrap();
    assert_eq!(c.jails[0].genuine, None);
}
