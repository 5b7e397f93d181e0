use super::*;

fn span<'a>(d: &DateDetector, line: &'a str) -> Option<&'a str> {
    d.find(line, &mut None).map(|(s, e)| &line[s..e])
}

#[test]
fn line_start_forms_as_common_conf_sets_them() {
    let d = DateDetector::new(Some("{^LN-BEG}")).unwrap();
    for (line, date) in [
        ("Jun 21 16:47:48 host sshd[1]: x", "Jun 21 16:47:48"),
        ("Jun  1 06:47:48 host sshd[1]: x", "Jun  1 06:47:48"),
        (
            "Sat Jun 21 16:47:48.123 2024 host x",
            "Sat Jun 21 16:47:48.123 2024",
        ),
        (
            "2024-03-05T14:39:21.123456+01:00 host sshd: x",
            "2024-03-05T14:39:21.123456+01:00",
        ),
        ("2024/03/05 14:39:21 [error] 7#7: x", "2024/03/05 14:39:21"),
        (
            "[05/Mar/2024:14:39:21 +0100] x",
            "05/Mar/2024:14:39:21 +0100",
        ),
        ("1710000000.123 host x", "1710000000.123"),
        (
            "@400000005c3f3e7b0d8a4a8c host x",
            "@400000005c3f3e7b0d8a4a8c",
        ),
    ] {
        assert_eq!(span(&d, line), Some(date), "{line}");
    }
    // Not at the line start: not a date for {^LN-BEG}.
    assert_eq!(span(&d, "host x Jun 21 16:47:48"), None);
    // Mixed-up ISO separators are not a date (the separator is a backreference).
    assert_eq!(span(&d, "2024-03/05 14:39:21 x"), None);
}

#[test]
fn without_datepattern_a_date_anywhere_counts() {
    let d = DateDetector::new(None).unwrap();
    let line = r#"192.0.2.1 - - [05/Mar/2024:14:39:21 +0100] "GET / HTTP/1.1" 200"#;
    assert_eq!(span(&d, line), Some("05/Mar/2024:14:39:21 +0100"));
    assert_eq!(
        span(&d, "audit(1710000000.123:77): x"),
        Some("1710000000.123")
    );
    // Inside a word is not a date.
    assert_eq!(span(&d, "idJun 21 16:47:48x"), None);
}

#[test]
fn custom_patterns_and_frames() {
    let d = DateDetector::new(Some("^%Y-%m-%d %H:%M:%S")).unwrap();
    assert_eq!(
        span(&d, "2024-03-05 14:39:21 x"),
        Some("2024-03-05 14:39:21")
    );
    let d = DateDetector::new(Some(r"^[^\[]*\[({DATE})")).unwrap();
    assert_eq!(
        span(&d, "client x [05/Mar/2024:14:39:21 +0100] y"),
        Some("05/Mar/2024:14:39:21 +0100")
    );
    let d = DateDetector::new(Some("{^LN-BEG}Epoch")).unwrap();
    assert_eq!(span(&d, "1710000000 x"), Some("1710000000"));
    let d = DateDetector::new(Some("{NONE}")).unwrap();
    assert_eq!(span(&d, "Jun 21 16:47:48 x"), Some(""));
}

#[test]
fn bad_patterns_are_refused_with_the_line() {
    let (line, e) = DateDetector::new(Some("^%Q")).unwrap_err();
    assert_eq!(line, "^%Q");
    assert!(e.contains("`%Q` is not a date directive"), "{e}");
    let (_, e) = DateDetector::new(Some("^(%Y")).unwrap_err();
    assert!(e.contains("missing )"), "{e}");
}
