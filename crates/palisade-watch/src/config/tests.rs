use super::*;
use crate::builtin::builtin;

fn parse(text: &str) -> Result<WatchConfig, ConfigError> {
    parse_watch_config("palisade.toml", text, &Services::new("imap2 143/tcp\n"))
}

fn err(text: &str) -> ConfigError {
    match parse(text) {
        Ok(_) => panic!("accepted: {text}"),
        Err(e) => e,
    }
}

#[test]
fn a_few_lines_enable_sshd_with_defaults() {
    let c = parse("[input]\npolicy = \"drop\"\n\n[jails.sshd]\n").unwrap();
    assert_eq!(c.set, "bans");
    assert_eq!(c.jails.len(), 1);
    let j = &c.jails[0];
    assert_eq!(j.name, "sshd");
    assert_eq!(
        j.source,
        Source::Journal {
            unit: Some("ssh.service".into())
        }
    );
    assert_eq!(
        (j.maxretry, j.findtime, j.bantime, j.bantime_max),
        (5, 600, 3600, 7 * 86400)
    );
    assert_eq!(j.bantime_factor, 1.0);
    assert_eq!(j.ban_v6_prefix, None);
    assert_eq!(j.ports, BanPorts::All);
    assert_eq!(j.matcher.patterns(), builtin("sshd").unwrap().patterns);
    assert!(c.allow.contains("127.0.0.1".parse().unwrap()));
    assert_eq!(c.jail_index("sshd"), Some(0));
}

#[test]
fn every_builtin_has_defaults() {
    for name in crate::builtin_names() {
        let c = parse(&format!("[jails.{name}]\n")).unwrap();
        assert_eq!(c.jails[0].name, *name);
    }
    let c = parse("[jails.nginx-http-auth]\n[jails.postfix-sasl]\n").unwrap();
    assert_eq!(
        c.jails[0].source,
        Source::File("/var/log/nginx/error.log".into())
    );
    assert!(matches!(c.jails[1].source, Source::Journal { .. }));
}

#[test]
fn everything_set() {
    let c = parse(
        r#"
[watch]
allow = ["192.0.2.0/24", "2001:db8::/32"]
set = "banned"

[jails.web-login]
enabled = true
maxretry = 3
findtime = "5m"
bantime = 7200
bantime_factor = 1.5
bantime_max = "2d"
ban_v6_prefix = 64
ports = ["http", 443, "8000-8100/tcp", "imap2", "53/udp"]
file = "/var/log/app/login.log"
patterns = ['^login failed from <HOST>$']
ignore = ['user=monitor']

[jails.sshd]
enabled = false
"#,
    )
    .unwrap();
    assert_eq!(c.set, "banned");
    assert!(c.allow.contains("2001:db8::5".parse().unwrap()));
    assert_eq!(c.jails.len(), 1, "disabled jails are left out");
    let j = &c.jails[0];
    assert_eq!(
        (j.maxretry, j.findtime, j.bantime, j.bantime_max),
        (3, 300, 7200, 172_800)
    );
    assert_eq!(j.bantime_factor, 1.5);
    assert_eq!(j.ban_v6_prefix, Some(64));
    assert_eq!(j.source, Source::File("/var/log/app/login.log".into()));
    let tcp = |a, b| (PortProto::Tcp, PortRange { first: a, last: b });
    assert_eq!(
        j.ports,
        BanPorts::Some(vec![
            tcp(80, 80),
            tcp(443, 443),
            tcp(8000, 8100),
            tcp(143, 143),
            (PortProto::Udp, PortRange::single(53)),
        ])
    );
    assert!(j
        .matcher
        .find_host(b"login failed from 198.51.100.1")
        .is_some());
    assert!(j
        .matcher
        .find_host(b"login failed from 198.51.100.1 user=monitor")
        .is_none());
}

#[test]
fn journal_forms() {
    let c = parse("[jails.x]\njournal = true\npatterns = ['from <HOST>']\n").unwrap();
    assert_eq!(c.jails[0].source, Source::Journal { unit: None });
    let c = parse("[jails.sshd]\njournal = \"sshd.service\"\n").unwrap();
    assert_eq!(
        c.jails[0].source,
        Source::Journal {
            unit: Some("sshd.service".into())
        }
    );
    let c = parse("[jails.sshd]\nfile = \"/var/log/auth.log\"\n").unwrap();
    assert_eq!(c.jails[0].source, Source::File("/var/log/auth.log".into()));
}

#[test]
fn bad_regex_names_jail_pattern_line_and_error() {
    let e = err(
        "[jails.sshd]\npatterns = [\n  'Failed .* from <HOST>',\n  'Invalid (user <HOST>',\n]\n",
    );
    assert_eq!((e.line, e.key.as_str()), (4, "jails.sshd.patterns[1]"));
    assert!(e.message.starts_with("jail \"sshd\": "), "{e}");
    assert!(e.message.contains("unclosed group"), "{e}");
    assert!(e
        .to_string()
        .starts_with("palisade.toml:4: jails.sshd.patterns[1]: "));

    let e = err("[jails.app]\nfile = \"/var/log/app.log\"\npatterns = ['login failed']\n");
    assert_eq!(e.key, "jails.app.patterns[0]");
    assert!(e.message.contains("has no <HOST>"), "{e}");

    let e = err("[jails.sshd]\nignore = ['ok', '*']\n");
    assert_eq!((e.line, e.key.as_str()), (2, "jails.sshd.ignore[1]"));
    assert!(e.message.contains("jail \"sshd\""), "{e}");
}

#[test]
fn exactly_one_source() {
    let e = err("[jails.sshd]\nfile = \"/var/log/auth.log\"\njournal = \"ssh.service\"\n");
    assert_eq!((e.line, e.key.as_str()), (2, "jails.sshd"));
    assert!(e.message.contains("either file or journal"), "{e}");
    let e = err("\n[jails.app]\npatterns = ['from <HOST>']\n");
    assert_eq!((e.line, e.key.as_str()), (2, "jails.app"));
    assert!(e.message.contains("needs a source"), "{e}");
    let e = err("[jails.app]\nfile = \"app.log\"\npatterns = ['from <HOST>']\n");
    assert_eq!(e.key, "jails.app.file");
    let e = err("[jails.app]\njournal = false\npatterns = ['from <HOST>']\n");
    assert_eq!(e.key, "jails.app.journal");
}

#[test]
fn custom_jails_need_patterns() {
    let e = err("[jails.app]\nfile = \"/var/log/app.log\"\n");
    assert_eq!(e.key, "jails.app.patterns");
    let e = err("[jails.sshd]\npatterns = []\n");
    assert_eq!(e.key, "jails.sshd.patterns");
}

#[test]
fn value_errors_have_line_and_key() {
    let cases = [
        ("[jails.sshd]\nmaxretry = 0\n", 2, "jails.sshd.maxretry"),
        (
            "[jails.sshd]\nfindtime = \"10 minutes\"\n",
            2,
            "jails.sshd.findtime",
        ),
        ("[jails.sshd]\nfindtime = 0\n", 2, "jails.sshd.findtime"),
        ("[jails.sshd]\nbantime = -5\n", 2, "jails.sshd.bantime"),
        ("[jails.sshd]\nbantime = true\n", 2, "jails.sshd.bantime"),
        (
            "[jails.sshd]\n\nbantime = \"2h\"\nbantime_max = \"1h\"\n",
            4,
            "jails.sshd.bantime_max",
        ),
        (
            "[jails.sshd]\nbantime_factor = 0.5\n",
            2,
            "jails.sshd.bantime_factor",
        ),
        (
            "[jails.sshd]\nbantime_factor = \"2\"\n",
            2,
            "jails.sshd.bantime_factor",
        ),
        (
            "[jails.sshd]\nban_v6_prefix = 129\n",
            2,
            "jails.sshd.ban_v6_prefix",
        ),
        ("[jails.sshd]\nports = [\"sshh\"]\n", 2, "jails.sshd.ports"),
        ("[jails.sshd]\nports = \"some\"\n", 2, "jails.sshd.ports"),
        ("[jails.sshd]\nports = [0]\n", 2, "jails.sshd.ports"),
        (
            "[jails.sshd]\nports = [\"22/icmp\"]\n",
            2,
            "jails.sshd.ports",
        ),
        ("[watch]\nallow = [\"10.0.0.1/8\"]\n", 2, "watch.allow[0]"),
        ("[watch]\nset = \"my bans\"\n", 2, "watch.set"),
        ("[jails.\"bad name\"]\n", 1, "jails.bad name"),
    ];
    for (text, line, key) in cases {
        let e = err(text);
        assert_eq!((e.line, e.key.as_str()), (line, key), "{text}: {e}");
        assert_eq!(e.file, "palisade.toml");
    }
    // Typos in key names are caught by TOML decoding, still with a line.
    let e = err("[jails.sshd]\nmaxretries = 3\n");
    assert_eq!(e.line, 2);
    assert!(e.message.contains("maxretries"), "{e}");
    let e = err("[watch]\nallowlist = []\n");
    assert_eq!(e.line, 2);
}

#[test]
fn bantime_max_defaults_to_at_least_bantime() {
    let c = parse("[jails.sshd]\nbantime = \"30d\"\n").unwrap();
    assert_eq!(c.jails[0].bantime_max, 30 * 86400);
}

#[test]
fn jails_keep_file_order() {
    let c = parse("[jails.postfix-sasl]\n[jails.apache-auth]\n[jails.sshd]\n").unwrap();
    let names: Vec<&str> = c.jails.iter().map(|j| j.name.as_str()).collect();
    assert_eq!(names, ["postfix-sasl", "apache-auth", "sshd"]);
}
