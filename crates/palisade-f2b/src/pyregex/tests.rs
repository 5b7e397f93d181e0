use super::*;

fn re(p: &str) -> PyRegex {
    PyRegex::new(p, Flags::default()).unwrap_or_else(|e| panic!("{p}: {e:?}"))
}

fn refused(p: &str) -> ParseError {
    PyRegex::new(p, Flags::default()).expect_err(p)
}

fn group<'t>(r: &PyRegex, text: &'t str, name: &str) -> Option<&'t str> {
    let spans = r.search(text)?;
    let (s, e) = spans[r.group(name)?]?;
    Some(&text[s..e])
}

#[test]
fn python_only_spellings_mean_what_python_means() {
    // `\Z` is the end of text, `{,2}` is `{0,2}`, `{x}` is literal, `[[]` is a bracket.
    assert!(re(r"a\Z").is_match("xa"));
    assert!(!re(r"a\Z").is_match("a\n"));
    assert!(re(r"^a{,2}$").is_match("aa"));
    assert!(re(r"^a{,2}$").is_match(""));
    assert!(re(r"^a{x}$").is_match("a{x}"));
    assert!(re(r"^[[]$").is_match("["));
    assert!(re(r"^[a&&b]+$").is_match("&&ab"));
    assert!(re(r"^\<\>$").is_match("<>"));
    assert!(re(r"^[\w-]+$").is_match("a-b"));
    assert!(re(r"^[]x]+$").is_match("]x"));
    assert!(re(r"^\x41\u0042\101$").is_match("ABA"));
    assert!(re(r"(?x) a  b # comment").is_match("ab"));
    assert!(re(r"(?i)^abc$").is_match("ABC"));
    assert!(re(r"^a(?i:b)c$").is_match("aBc"));
    assert!(!re(r"^a(?i:b)c$").is_match("aBC"));
    assert!(re(r"^a(?#note)b$").is_match("ab"));
    assert!(re(r"^a.b$").is_match("a-b"));
    assert!(!re(r"^a.b$").is_match("a\nb"));
    assert!(re(r"(?s)^a.b$").is_match("a\nb"));
}

#[test]
fn named_groups_backreferences_and_conditionals() {
    let r = re(r"^(?P<q>['x])(?P<v>\w+)(?P=q)$");
    assert!(r.is_backtracking());
    assert_eq!(group(&r, "'abc'", "v"), Some("abc"));
    assert!(!r.is_match("'abcx"));
    let r = re(r"^(?P<inv>invalid )?user (?(inv)\S+|[a-z]+)$");
    assert!(r.is_match("invalid user A1"));
    assert!(!r.is_match("user A1"));
    assert!(r.is_match("user abc"));
    let r = re(r"^(\d)-\1$");
    assert!(r.is_match("3-3") && !r.is_match("3-4"));
}

#[test]
fn lookaround_runs_on_the_backtracking_engine_behind_a_screen() {
    let r = re(r"^for (?:(?! from ).)*? from (?P<h>\S+)$");
    assert!(r.is_backtracking());
    assert_eq!(group(&r, "for bob from 1.2.3.4", "h"), Some("1.2.3.4"));
    assert_eq!(group(&r, "for x from y from 1.2.3.4", "h"), None);
    assert!(re(r"(?<=a)b").is_match("ab"));
    assert!(!re(r"(?<!a)b").is_match("ab"));
    assert!(re(r"^(?>a+)b$").is_match("aab"));
    assert!(!re(r"^a++a$").is_match("aaa"));
    assert!(!re(r"^\d+$").is_backtracking());
}

#[test]
fn refusals_say_what_and_where() {
    for (pattern, offset, needle) in [
        (r"ab(?<name>x)", 2, "unknown extension"),
        (r"a\qb", 1, "bad escape \\q"),
        (r"a**", 2, "multiple repeat"),
        (r"*a", 0, "nothing to repeat"),
        (r"(a", 0, "missing )"),
        (r"a)", 1, "unbalanced"),
        (r"[a", 0, "unterminated character set"),
        (r"[z-a]", 1, "bad character range"),
        (r"(?P<x>a)(?P<x>b)", 8, "redefinition of group name"),
        (r"(a)\2", 3, "invalid group reference"),
        (r"(a\1)", 2, "open group"),
        (r"a(?i)b", 1, "global flags not at the start"),
        (r"(?L)a", 0, "LOCALE"),
        (r"\N{DIGIT ONE}", 0, "named Unicode escapes"),
        (r"a{3,2}", 1, "min repeat greater than max repeat"),
    ] {
        let e = refused(pattern);
        assert_eq!(e.offset, offset, "{pattern}: {e:?}");
        assert!(e.message.contains(needle), "{pattern}: {e:?}");
    }
    let deep = format!("{}a{}", "(".repeat(5000), ")".repeat(5000));
    assert!(refused(&deep).message.contains("nest more than"));
    let e = refused(r"x(?<=a+)b");
    assert_eq!(e.offset, 1);
    assert!(e.message.contains("fixed length"), "{e:?}");
    assert!(re(r"(?<=ab|cd)x").is_match("cdx"));
}

#[test]
fn ascii_flag_limits_classes_to_ascii() {
    assert!(re(r"^\w+$").is_match("héllo"));
    assert!(!re(r"(?a)^\w+$").is_match("héllo"));
    assert!(!re(r"(?a)^\d$").is_match("٣"));
}
