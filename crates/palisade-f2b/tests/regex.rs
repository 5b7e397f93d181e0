//! Python's regex dialect through whole filters: what is translated matches what Python
//! matches, what needs backtracking runs on it, and what cannot be supported is refused
//! with the file, the line and the construct.

use std::net::IpAddr;

use palisade_f2b::{load_filter, Filter, FilterSpec, MemorySource};

fn filter(definition: &str) -> Result<Filter, String> {
    let files = MemorySource::new().with("t.conf", &format!("[Definition]\n{definition}\n"));
    load_filter(&FilterSpec::named("t"), &files).map_err(|e| e.to_string())
}

fn host(f: &Filter, line: &str) -> Option<IpAddr> {
    f.matcher().feed(line.as_bytes()).map(|x| x.host)
}

fn ip(s: &str) -> Option<IpAddr> {
    Some(s.parse().unwrap())
}

#[test]
fn python_spellings_are_translated() {
    let f = filter(concat!(
        "failregex = ^(?P<q>['\"])(?P<who>\\w+)(?P=q) from <HOST>\\Z\n",
        "            ^(?i)IGNORED$\n",
    ));
    // The second regex has a global flag not at the start: refused, as by Python 3.11.
    let e = f.unwrap_err();
    assert!(e.starts_with("t.conf:3: failregex"), "{e}");
    assert!(e.contains("global flags not at the start"), "{e}");

    let f = filter(concat!(
        "failregex = ^(?P<q>['\"])(?P<who>\\w+)(?P=q) from <HOST>\\Z\n",
        "            (?i)^user [[]\\w{,8}[]] denied from <HOST>$\n",
        "            (?x)^ spaced \\  out \\  from \\s <HOST> $   # a comment\n",
    ))
    .unwrap();
    assert_eq!(
        f.backtracking_count(),
        1,
        "only the backreference needs backtracking"
    );
    assert_eq!(host(&f, "'bob' from 192.0.2.1"), ip("192.0.2.1"));
    assert_eq!(
        host(&f, "'bob\" from 192.0.2.1"),
        None,
        "the quotes must be the same"
    );
    assert_eq!(
        host(&f, "USER [admin] DENIED FROM 192.0.2.2"),
        ip("192.0.2.2")
    );
    assert_eq!(host(&f, "spaced out from 192.0.2.3"), ip("192.0.2.3"));
}

#[test]
fn lookaround_and_conditionals_run_on_the_backtracking_engine() {
    let f = filter(concat!(
        "failregex = ^for (?P<inv>invalid )?(?:(?! from ).)+ from <HOST>(?(inv) \\(invalid\\)|)$\n",
        "            ^(?<!x)refused <HOST>$\n",
    ))
    .unwrap();
    assert_eq!(f.backtracking_count(), 2);
    assert_eq!(host(&f, "for bob from 192.0.2.10"), ip("192.0.2.10"));
    assert_eq!(
        host(&f, "for invalid bob from 192.0.2.11 (invalid)"),
        ip("192.0.2.11")
    );
    // As in Python: the optional group is given up so the rest can match.
    assert_eq!(
        host(&f, "for invalid bob from 192.0.2.11"),
        ip("192.0.2.11")
    );
    assert_eq!(
        host(&f, "for bob from x from 192.0.2.12"),
        None,
        "the lookahead forbids a second ' from '"
    );
    assert_eq!(host(&f, "refused 192.0.2.13"), ip("192.0.2.13"));
}

#[test]
fn refusals_name_file_line_and_construct() {
    for (definition, line, needle) in [
        (
            "failregex = ^a <HOST>$\n    ^(?<=a+)b <HOST>$",
            3,
            "lookbehind must have a fixed length",
        ),
        (
            "failregex = ^a(?<name>x) <HOST>$",
            2,
            "unknown extension `(?<n`",
        ),
        ("failregex = ^a\\qb <HOST>$", 2, "bad escape \\q"),
        (
            "failregex = ^a <HOST> (b$",
            2,
            "missing ), unterminated subpattern (at `(b$`)",
        ),
        (
            "failregex = ^from <DNS>$",
            2,
            "palisade never resolves names",
        ),
        (
            "failregex = ^a <HOST>$\nprefregex = ^[z-a]<F-CONTENT>.+</F-CONTENT>$",
            3,
            "prefregex",
        ),
        (
            "failregex = ^a <HOST>$\nignoreregex = x**",
            3,
            "multiple repeat",
        ),
        (
            "failregex = ^a <HOST>$\ndatepattern = ^%%Q",
            3,
            "`%Q` is not a date directive",
        ),
    ] {
        let e = filter(definition).expect_err(definition);
        assert!(
            e.starts_with(&format!("t.conf:{line}: ")),
            "{definition}: {e}"
        );
        assert!(e.contains(needle), "{definition}: {e}");
    }
}

#[test]
fn the_line_an_error_names_is_the_one_written_even_through_interpolation() {
    let files = MemorySource::new()
        .with("common.conf", "[DEFAULT]\n__prefix = (?:\\S+ )?\n__bad = (?<=a*)\n")
        .with(
            "t.conf",
            "[INCLUDES]\nbefore = common.conf\n[Definition]\nfailregex = ^%(__prefix)sok <HOST>$\n            ^%(__prefix)s%(__bad)sx <HOST>$\n",
        );
    let e = load_filter(&FilterSpec::named("t"), &files)
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("common.conf:3: failregex"), "{e}");
}
