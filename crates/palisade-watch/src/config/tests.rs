use super::*;
use crate::jails::builtin;
use crate::model::{BanPorts, JailFilter, JournalMatch, Source};
use palisade_core::policy::{PortProto, PortRange};
use palisade_f2b::MemorySource;

/// Filter files a test may name: a demo filter, in the directory `/filters`.
fn filters(dir: &Path) -> Box<dyn FilterSource> {
    let files = if dir == Path::new("/filters") {
        MemorySource::new()
            .with(
                "demo.conf",
                "[Definition]\n_daemon = demo\nfailregex = ^\\s*\\S+ demo\\[\\d+\\]: bad login from <HOST>$\n            ^\\s*\\S+ demo\\[\\d+\\]: <F-NOFAIL>hello</F-NOFAIL> from <HOST>$\nmaxlines = 1\n",
            )
            .with("broken.conf", "[Definition]\nfailregex = ^bad (login from <HOST>\n")
    } else {
        MemorySource::new()
    };
    Box::new(files)
}

fn parse(text: &str) -> Result<WatchConfig, ConfigError> {
    parse_watch_config(
        "palisade.toml",
        text,
        &Services::new("imap2 143/tcp\n"),
        &filters,
    )
}

fn patterns(j: &crate::model::Jail) -> Vec<String> {
    match &j.filter {
        JailFilter::Rules(r) => r.patterns().to_vec(),
        JailFilter::Fail2ban(_) => panic!("{}: a fail2ban filter", j.name),
    }
}

fn hosts(j: &crate::model::Jail, line: &str) -> Vec<std::net::IpAddr> {
    j.matcher().feed(line.as_bytes(), 1000)
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
        Source::Journal(JournalMatch {
            units: vec!["ssh.service".into(), "sshd.service".into()],
            identifiers: vec![],
        })
    );
    assert_eq!(
        (j.maxretry, j.findtime, j.bantime, j.bantime_max),
        (5, 600, 3600, 7 * 86400)
    );
    assert_eq!(j.bantime_factor, 1.0);
    assert_eq!(j.ban_v6_prefix, None);
    assert_eq!(j.ports, BanPorts::All);
    let builtin_patterns: Vec<String> = builtin("sshd", "normal")
        .unwrap()
        .rules
        .into_iter()
        .map(|r| r.pattern)
        .collect();
    assert_eq!(patterns(j), builtin_patterns);
    assert!(c.allow.contains("127.0.0.1".parse().unwrap()));
    assert_eq!(c.jail_index("sshd"), Some(0));
}

#[test]
fn every_builtin_has_defaults() {
    for name in crate::builtin_names() {
        let genuine = if crate::jails::genuine_required(name) {
            "genuine = \"googlebot\"\n"
        } else {
            ""
        };
        let c = parse(&format!("[jails.{name}]\n{genuine}")).unwrap();
        assert_eq!(c.jails[0].name, *name);
    }
    let c = parse("[jails.nginx-http-auth]\n[jails.postfix-sasl]\n").unwrap();
    assert_eq!(
        c.jails[0].source,
        Source::File("/var/log/nginx/error.log".into())
    );
    assert!(matches!(c.jails[1].source, Source::Journal(_)));
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
    assert_eq!(hosts(j, "login failed from 198.51.100.1").len(), 1);
    assert!(hosts(j, "login failed from 198.51.100.1 user=monitor").is_empty());
}

#[test]
fn journal_forms() {
    let c = parse("[jails.x]\njournal = true\npatterns = ['from <HOST>']\n").unwrap();
    assert_eq!(c.jails[0].source, Source::Journal(JournalMatch::default()));
    let c = parse("[jails.sshd]\njournal = \"sshd.service\"\n").unwrap();
    assert_eq!(
        c.jails[0].source,
        Source::Journal(JournalMatch {
            units: vec!["sshd.service".into()],
            identifiers: vec![],
        })
    );
    let c = parse(
        "[jails.sshd]\njournal = { units = [\"ssh.service\", \"sshd.service\"], identifier = \"sshd-session\" }\n",
    )
    .unwrap();
    let Source::Journal(m) = &c.jails[0].source else {
        panic!("not the journal")
    };
    assert!(m.matches(Some("ssh.service"), Some("sshd-session")));
    assert!(
        !m.matches(Some("ssh.service"), Some("sshd")),
        "both fields must match"
    );
    assert!(!m.matches(Some("cron.service"), Some("sshd-session")));
    assert!(!m.matches(None, Some("sshd-session")));
    for bad in [
        "journal = {}",
        "journal = { unit = [] }",
        "journal = { units = [1] }",
        "journal = { service = \"x\" }",
    ] {
        let e = err(&format!("[jails.sshd]\n{bad}\n"));
        assert_eq!(
            (e.line, e.key.as_str()),
            (2, "jails.sshd.journal"),
            "{bad}: {e}"
        );
    }
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
    assert!(e.message.contains("filter = \"sshd\""), "{e}");
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

#[test]
fn modes_of_built_in_jails() {
    let c = parse("[jails.sshd]\nmode = \"aggressive\"\n").unwrap();
    let line = "Jun  2 11:04:17 gw sshd[1]: Did not receive identification string from 198.51.100.9 port 2";
    assert_eq!(hosts(&c.jails[0], line).len(), 1);
    assert!(hosts(&parse("[jails.sshd]\n").unwrap().jails[0], line).is_empty());
    let e = err("[jails.sshd]\nmode = \"paranoid\"\n");
    assert_eq!((e.line, e.key.as_str()), (2, "jails.sshd.mode"));
    assert!(e.message.contains("normal, aggressive"), "{e}");
    let e = err("[jails.app]\nfile = \"/x\"\npatterns = ['<HOST>']\nmode = \"aggressive\"\n");
    assert_eq!(e.key, "jails.app.mode");
}

#[test]
fn fail2ban_filters_are_read_from_the_filter_directory() {
    let c = parse(
        "[watch]\nfilter_dir = \"/filters\"\n[jails.demo]\nfile = \"/var/log/demo.log\"\nfilter = \"demo\"\nmaxretry = 2\n",
    )
    .unwrap();
    let j = &c.jails[0];
    assert!(matches!(j.filter, JailFilter::Fail2ban(_)));
    let mut m = j.matcher();
    assert!(m
        .feed(b"Jun  2 11:04:17 h demo[1]: hello from 198.51.100.20", 1)
        .is_empty());
    assert_eq!(
        m.feed(
            b"Jun  2 11:04:17 h demo[1]: bad login from 198.51.100.20",
            2
        ),
        ["198.51.100.20".parse::<std::net::IpAddr>().unwrap()]
    );
    // A journal source reads entries as fail2ban's systemd backend hands them over.
    let c = parse("[watch]\nfilter_dir = \"/filters\"\n[jails.demo]\njournal = \"demo.service\"\nfilter = \"demo\"\n")
        .unwrap();
    let JailFilter::Fail2ban(f) = &c.jails[0].filter else {
        panic!("not a filter")
    };
    assert_eq!(f.logtype(), "journal");
    let entry = crate::JournalEntry {
        message: b"bad login from 198.51.100.21".to_vec(),
        identifier: Some("demo".into()),
        pid: Some("9".into()),
        hostname: Some("h".into()),
        ..Default::default()
    };
    assert_eq!(c.jails[0].matcher().feed_journal(&entry, 1).len(), 1);
}

#[test]
fn filter_errors_name_the_config_line_and_the_filter_file() {
    let e = err(
        "[watch]\nfilter_dir = \"/filters\"\n[jails.web]\nfile = \"/x\"\nfilter = \"broken\"\n",
    );
    assert_eq!((e.line, e.key.as_str()), (5, "jails.web.filter"));
    assert!(e.message.contains("broken.conf:2"), "{e}");
    assert!(e.message.contains("failregex"), "{e}");
    let e = err(
        "[watch]\nfilter_dir = \"/filters\"\n[jails.web]\nfile = \"/x\"\nfilter = \"nosuch\"\n",
    );
    assert!(e.message.contains("nosuch"), "{e}");
    assert!(e.message.contains("/filters"), "{e}");
    let e = err("[jails.web]\nfile = \"/x\"\nfilter = \"sshd[mode=\"\n");
    assert_eq!(e.key, "jails.web.filter");
    let e = err("[jails.web]\nfile = \"/x\"\nfilter = \"demo\"\npatterns = ['<HOST>']\n");
    assert!(e.message.contains("brings its own"), "{e}");
    let e = err("[watch]\nfilter_dir = \"filters\"\n");
    assert_eq!(e.key, "watch.filter_dir");
}

#[test]
fn the_journal_location_and_recidive() {
    let c = parse("[watch]\njournal_directory = \"/var/log/journal/remote\"\n").unwrap();
    assert_eq!(
        c.journal,
        JournalLocation::Directory("/var/log/journal/remote".into())
    );
    let c = parse("[watch]\njournal_files = [\"/a.journal\", \"/b.journal\"]\n").unwrap();
    assert_eq!(
        c.journal,
        JournalLocation::Files(vec!["/a.journal".into(), "/b.journal".into()])
    );
    assert_eq!(parse("").unwrap().journal, JournalLocation::System);
    let e = err("[watch]\njournal_directory = \"/a\"\njournal_files = [\"/b\"]\n");
    assert_eq!(e.key, "watch.journal_directory");
    let e = err("[watch]\njournal_files = [\"b\"]\n");
    assert_eq!(e.key, "watch.journal_files");

    let c = parse("[watch]\nrecidive = { bans = 3 }\n").unwrap();
    assert_eq!(
        c.recidive,
        Some(Recidive {
            bans: 3,
            findtime: 86400,
            bantime: 7 * 86400,
            permanent_after: None,
            history: 30 * 86400,
        })
    );
    let c = parse(
        "[watch]\nrecidive = { bans = 5, findtime = \"2d\", bantime = \"2w\", permanent_after = 10, history = \"90d\" }\n",
    )
    .unwrap();
    let r = c.recidive.unwrap();
    assert_eq!(
        (r.bans, r.findtime, r.bantime, r.permanent_after, r.history),
        (5, 2 * 86400, 14 * 86400, Some(10), 90 * 86400)
    );
    for (text, key) in [
        ("recidive = { bans = 1 }", "watch.recidive.bans"),
        (
            "recidive = { bans = 3, permanent_after = 3 }",
            "watch.recidive.permanent_after",
        ),
        (
            "recidive = { bans = 3, findtime = \"2d\", history = \"1d\" }",
            "watch.recidive.history",
        ),
        (
            "recidive = { bans = 3, bantime = 0 }",
            "watch.recidive.bantime",
        ),
    ] {
        let e = err(&format!("[watch]\n{text}\n"));
        assert_eq!((e.line, e.key.as_str()), (2, key), "{text}: {e}");
    }
    let e = err("[watch]\nrecidive = { bans = 3, maxretry = 2 }\n");
    assert!(e.message.contains("maxretry"), "{e}");
    let e = err("[jails.recidive]\nfile = \"/var/log/fail2ban.log\"\npatterns = ['Ban <HOST>']\n");
    assert!(e.message.contains("[watch] recidive"), "{e}");
}

#[test]
fn built_in_ignore_patterns_add_to_the_jails_own() {
    let c = parse("[jails.postfix-sasl]\nignore = ['unknown\\[203\\.0\\.113\\.9\\]']\n").unwrap();
    let j = &c.jails[0];
    let line = |a: &str, why: &str| {
        format!("May 18 10:30:44 mx postfix/smtpd[1]: warning: unknown[{a}]: SASL LOGIN authentication failed: {why}")
    };
    assert_eq!(hosts(j, &line("203.0.113.8", "UGFzc3dvcmQ6")).len(), 1);
    assert!(hosts(j, &line("203.0.113.9", "UGFzc3dvcmQ6")).is_empty());
    assert!(hosts(
        j,
        &line("203.0.113.8", "Connection lost to authentication server")
    )
    .is_empty());
    let e = err("[jails.postfix-sasl]\nignore = ['ok', '(']\n");
    assert_eq!(e.key, "jails.postfix-sasl.ignore[1]");
}
