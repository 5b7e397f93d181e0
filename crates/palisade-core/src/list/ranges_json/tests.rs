//! JSON range documents through the list reader, as `set load` and feeds read them.

use std::io::Cursor;

use crate::list::{detect_format, Format, LineError, ListReader, ParseOptions};
use crate::problem::Problem;
use crate::Element;

/// A document shaped like Google's `googlebot.json`, with networks of the documentation
/// ranges, and a key Google does not write (ignored).
const GOOGLE_LIKE: &str = r#"{
  "creationTime": "2026-11-30T23:00:46.000000",
  "syncToken": "1764543646000",
  "prefixes": [
    {
      "ipv6Prefix": "2001:db8:4801:10::/64"
    },
    {
      "ipv4Prefix": "192.0.2.0/27"
    },
    {
      "ipv4Prefix": "198.51.100.64/27",
      "service": "ignored"
    }
  ]
}
"#;

fn read(name: &str, text: &str, opts: ParseOptions) -> Vec<Result<Element, LineError>> {
    ListReader::new(
        name,
        Cursor::new(text.as_bytes().to_vec()),
        Format::Auto,
        opts,
    )
    .collect()
}

fn shown(results: &[Result<Element, LineError>]) -> Vec<String> {
    results
        .iter()
        .map(|r| match r {
            Ok(e) => e.addr.to_string(),
            Err(e) => e.to_string(),
        })
        .collect()
}

#[test]
fn a_google_range_document_is_detected_by_content_and_read() {
    let got = read("googlebot.json", GOOGLE_LIKE, ParseOptions::default());
    assert_eq!(
        shown(&got),
        ["2001:db8:4801:10::/64", "192.0.2.0/27", "198.51.100.64/27"]
    );
    // The name does not matter: the content says JSON.
    let got = read("download", GOOGLE_LIKE, ParseOptions::default());
    assert_eq!(got.len(), 3);
    assert!(got.iter().all(Result::is_ok));
}

#[test]
fn detection_needs_a_brace_first() {
    assert_eq!(
        detect_format("x", &["", "  {", "\"prefixes\": []"]),
        Format::Json
    );
    assert_eq!(
        detect_format("x", &["\u{feff}{\"prefixes\": []}"]),
        Format::Json
    );
    assert_eq!(detect_format("x.netset", &["{}"]), Format::Json);
    assert_eq!(detect_format("x", &["# {", "192.0.2.1"]), Format::Plain);
    assert_eq!(detect_format("x", &["192.0.2.1 # {"]), Format::Plain);
}

#[test]
fn a_minified_document_reads_the_same() {
    let text = r#"{"prefixes":[{"ipv4Prefix":"192.0.2.0/24"},{"ipv6Prefix":"2001:db8::/32"}]}"#;
    let mut reader = ListReader::new(
        "g.json",
        Cursor::new(text.as_bytes().to_vec()),
        Format::Auto,
        ParseOptions::default(),
    );
    let got: Vec<_> = reader.by_ref().collect();
    assert_eq!(shown(&got), ["192.0.2.0/24", "2001:db8::/32"]);
    assert_eq!(reader.format(), Format::Json);
    // Each prefix counts as a line, so shares of invalid lines weigh prefixes.
    assert_eq!(reader.lines_read(), 2);
}

#[test]
fn a_bad_prefix_is_a_line_error_on_its_document_line() {
    let text = "{\"prefixes\": [\n {\"ipv4Prefix\": \"192.0.2.0/24\"},\n {\"ipv4Prefix\": \"192.0.2.300/24\"},\n {\"ipv4Prefix\": \"198.51.100.0/24\"}\n]}\n";
    let got = read("g.json", text, ParseOptions::default());
    assert_eq!(got.len(), 3);
    assert!(got[0].is_ok() && got[2].is_ok());
    let err = got[1].as_ref().unwrap_err();
    assert_eq!(err.line, 3);
    assert_eq!(err.content, "192.0.2.300/24");
    assert_eq!(err.problem, Problem::NotAnAddress);
    assert!(err.to_string().starts_with("g.json:3: `192.0.2.300/24`: "));
}

#[test]
fn host_bits_follow_the_normalize_option() {
    let text = r#"{"prefixes": [{"ipv4Prefix": "192.0.2.7/24"}]}"#;
    let strict = read("g.json", text, ParseOptions::default());
    assert!(matches!(
        strict[0].as_ref().unwrap_err().problem,
        Problem::HostBitsSet { .. }
    ));
    let normalize = ParseOptions {
        normalize: true,
        ..ParseOptions::default()
    };
    assert_eq!(shown(&read("g.json", text, normalize)), ["192.0.2.0/24"]);
}

#[test]
fn a_prefix_under_the_wrong_key_or_without_one_is_refused() {
    let text = r#"{"prefixes": [
        {"ipv4Prefix": "2001:db8::/32"},
        {"ipv6Prefix": "192.0.2.0/24"},
        {"service": "x"},
        {"ipv4Prefix": "192.0.2.0/24", "ipv6Prefix": "2001:db8::/32"}
    ]}"#;
    let got = read("g.json", text, ParseOptions::default());
    let problems: Vec<_> = got
        .iter()
        .map(|r| r.as_ref().unwrap_err().problem.clone())
        .collect();
    assert_eq!(
        problems,
        [
            Problem::PrefixFamily { key: "ipv4Prefix" },
            Problem::PrefixFamily { key: "ipv6Prefix" },
            Problem::PrefixKeys,
            Problem::PrefixKeys,
        ]
    );
    assert_eq!(got[1].as_ref().unwrap_err().line, 3);
}

#[test]
fn a_document_that_is_not_a_range_list_is_one_error_naming_file_and_line() {
    for (text, line, want) in [
        (
            "{\"prefixes\": [\n{\"ipv4Prefix\": \"192.0.2.0/24\"},\n",
            3,
            "EOF",
        ),
        (
            "{\"prefixes\": [\n{\"ipv4Prefix\" \"192.0.2.0/24\"}]}",
            2,
            "expected `:`",
        ),
        ("{\"prefixes\": \"192.0.2.0/24\"}", 1, "invalid type"),
        ("{\"prefixes\": [{\"ipv4Prefix\": 7}]}", 1, "invalid type"),
        ("{\"creationTime\": \"now\"}", 1, "no `prefixes`"),
    ] {
        let got = read("feed.json", text, ParseOptions::default());
        assert_eq!(got.len(), 1, "{text}");
        let err = got[0].as_ref().unwrap_err();
        assert_eq!(err.line, line, "{text}");
        let message = err.to_string();
        assert!(
            message.starts_with(&format!("feed.json:{line}: ")),
            "{message}"
        );
        assert!(message.contains(want), "{message}");
        assert!(!message.contains(" at line "), "{message}");
    }
}

#[test]
fn ports_are_required_when_the_set_has_them() {
    let text = r#"{"prefixes": [{"ipv4Prefix": "192.0.2.0/24"}]}"#;
    let ports = ParseOptions {
        with_ports: true,
        normalize: false,
    };
    let got = read("g.json", text, ports);
    assert_eq!(got[0].as_ref().unwrap_err().problem, Problem::MissingPort);
}

#[test]
fn an_empty_prefix_list_reads_as_no_elements() {
    assert!(read("g.json", r#"{"prefixes": []}"#, ParseOptions::default()).is_empty());
}

proptest::proptest! {
    #[test]
    fn never_panics_on_any_document(text in "\\{[ -~\n]{0,200}") {
        let _ = read("g.json", &text, ParseOptions::default());
    }
}
