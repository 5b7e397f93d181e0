//! Is a download a list? The checks that stand between a broken fetch and an open server.
//!
//! A blocklist that silently becomes empty, or half of itself, is the classic way a cron job
//! around `curl | ipset restore` opens a host: the publisher returned an error page, the
//! connection dropped mid-file, the disk was full. So a download is parsed (by palisade-core's
//! list reader, the same as `set load`) and refused, keeping the set as it was, when it is:
//!
//! - an HTML (or XML) page: a login wall, a captive portal, an error page served with 200;
//! - empty, or comments only;
//! - cut short: the last line has no line end and is not an address;
//! - mostly not addresses: more than [`MAX_INVALID_PERCENT`] of its lines are invalid (a few
//!   odd lines are skipped and counted, as publishers do make mistakes);
//! - shrunk by more than the set's `max_shrink` percent against the last good copy.
//!
//! Pure: bytes in, a verdict out, so every case is tested without a network.

use palisade_core::{Contents, ContentsBuilder, Format, ListReader, ParseOptions};

/// Most invalid lines, in percent of all lines, a download may have and still be a list.
pub const MAX_INVALID_PERCENT: u64 = 10;

/// A download that is a list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accepted {
    pub contents: Contents,
    /// Addresses and networks read (before merging).
    pub entries: u64,
    /// Invalid lines skipped.
    pub skipped: u64,
    /// The first invalid line, for the log.
    pub first_skipped: Option<String>,
}

/// Why a download is not taken.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("looks like an HTML page{}, not a list", content_type.as_ref().map(|t| format!(" ({t})")).unwrap_or_default())]
    Html { content_type: Option<String> },
    #[error("holds no address (empty, or comments only)")]
    Empty,
    #[error("cut short: the last line `{line}` has no line end and is not an address")]
    Truncated { line: String },
    #[error("{invalid} of {lines} lines are not addresses (more than {MAX_INVALID_PERCENT}%), first: {first}")]
    Invalid {
        invalid: u64,
        lines: u64,
        first: String,
    },
    #[error("would shrink the list from {from} to {to} entries (by {percent}%, more than max_shrink = {max}%)")]
    Shrunk {
        from: u64,
        to: u64,
        percent: u64,
        max: u8,
    },
}

/// Judge a download. `name` is the source for messages and format detection (the URL's last
/// path segment, so `.netset` is recognized); `previous_entries` is the last good copy's
/// entry count, if there is one.
pub fn judge(
    name: &str,
    bytes: &[u8],
    content_type: Option<&str>,
    previous_entries: Option<u64>,
    max_shrink: u8,
) -> Result<Accepted, Refusal> {
    if looks_like_markup(bytes, content_type) {
        return Err(Refusal::Html {
            content_type: content_type.map(str::to_string),
        });
    }
    let mut builder = ContentsBuilder::default();
    let mut reader = ListReader::new(name, bytes, Format::Auto, ParseOptions::default());
    let mut skipped = 0u64;
    let mut first_skipped = None;
    let mut last_error_line = None;
    for item in reader.by_ref() {
        match item {
            Ok(e) => builder.push(e.addr, e.port),
            Err(e) => {
                skipped += 1;
                last_error_line = Some(e.line);
                first_skipped.get_or_insert_with(|| e.to_string());
            }
        }
    }
    let lines = reader.lines_read();
    let entries = builder.entries();
    // A JSON document is read whole: one cut short is a JSON error that says so itself.
    if !bytes.is_empty()
        && !bytes.ends_with(b"\n")
        && last_error_line == Some(lines)
        && reader.format() != Format::Json
    {
        let last = bytes.rsplit(|b| *b == b'\n').next().unwrap_or_default();
        return Err(Refusal::Truncated {
            line: String::from_utf8_lossy(&last[..last.len().min(80)]).into_owned(),
        });
    }
    if skipped > 0 && skipped * 100 > lines * MAX_INVALID_PERCENT {
        return Err(Refusal::Invalid {
            invalid: skipped,
            lines,
            first: first_skipped.unwrap_or_default(),
        });
    }
    if entries == 0 {
        return Err(Refusal::Empty);
    }
    if let Some(from) = previous_entries.filter(|p| *p > entries) {
        let percent = (from - entries) * 100 / from;
        if (from - entries) * 100 > from * u64::from(max_shrink) {
            return Err(Refusal::Shrunk {
                from,
                to: entries,
                percent,
                max: max_shrink,
            });
        }
    }
    Ok(Accepted {
        contents: builder.build(),
        entries,
        skipped,
        first_skipped,
    })
}

/// Served as HTML or XML, or starting (after blanks and a byte-order mark) with `<`.
fn looks_like_markup(bytes: &[u8], content_type: Option<&str>) -> bool {
    let typed = content_type.is_some_and(|t| {
        let t = t.trim_start().to_ascii_lowercase();
        t.starts_with("text/html") || t.starts_with("application/xhtml")
    });
    let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    typed
        || body
            .iter()
            .find(|b| !b.is_ascii_whitespace())
            .is_some_and(|b| *b == b'<')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ok(text: &str) -> Accepted {
        judge("list.netset", text.as_bytes(), Some("text/plain"), None, 50).unwrap()
    }

    fn refusal(text: &str, previous: Option<u64>) -> Refusal {
        judge("list.txt", text.as_bytes(), None, previous, 50).unwrap_err()
    }

    #[test]
    fn a_list_is_taken_with_its_odd_lines_counted() {
        let mut text = String::from("# a feed\n");
        for i in 0..20 {
            text.push_str(&format!("192.0.2.{i}\n"));
        }
        text.push_str("2001:db8::/32\nnot-an-address\n");
        let a = ok(&text);
        assert_eq!(a.entries, 21);
        assert_eq!(a.skipped, 1);
        assert!(a.first_skipped.unwrap().contains("not-an-address"));
        // No final line end, but the last line is an address: taken.
        assert_eq!(ok("192.0.2.1\n198.51.100.0/24").entries, 2);
    }

    #[test]
    fn error_pages_empty_and_cut_downloads_are_refused() {
        assert!(matches!(
            refusal("<!DOCTYPE html>\n<html><body>502</body></html>\n", None),
            Refusal::Html { .. }
        ));
        assert!(matches!(
            refusal("\u{feff}  \n<html>", None),
            Refusal::Html { .. }
        ));
        let typed = judge(
            "x",
            b"192.0.2.1\n",
            Some("text/html; charset=utf-8"),
            None,
            50,
        );
        assert!(matches!(typed, Err(Refusal::Html { .. })));
        assert_eq!(refusal("", None), Refusal::Empty);
        assert_eq!(refusal("# nothing today\n; really\n", None), Refusal::Empty);
        let cut = refusal("192.0.2.1\n192.0.2.2\n198.51.100.", None);
        assert!(
            matches!(cut, Refusal::Truncated { ref line } if line == "198.51.100."),
            "{cut:?}"
        );
        let junk = refusal("192.0.2.1\nfoo\nbar\nbaz\n", None);
        assert!(
            matches!(
                junk,
                Refusal::Invalid {
                    invalid: 3,
                    lines: 4,
                    ..
                }
            ),
            "{junk:?}"
        );
    }

    #[test]
    fn a_list_that_shrinks_too_much_is_refused() {
        let ten: String = (0..10).map(|i| format!("192.0.2.{i}\n")).collect();
        assert_eq!(ok(&ten).entries, 10);
        let e = refusal(&ten, Some(21));
        assert_eq!(
            e,
            Refusal::Shrunk {
                from: 21,
                to: 10,
                percent: 52,
                max: 50
            }
        );
        assert!(e.to_string().contains("max_shrink = 50%"));
        // Half of it is still within 50%; growth is always fine.
        assert!(judge("x", ten.as_bytes(), None, Some(20), 50).is_ok());
        assert!(judge("x", ten.as_bytes(), None, Some(3), 0).is_ok());
        // max_shrink = 100 takes any non-empty list.
        assert!(judge("x", b"192.0.2.1\n", None, Some(1_000_000), 100).is_ok());
    }

    #[test]
    fn a_json_range_document_is_a_list_and_a_cut_or_other_one_is_refused() {
        let google_like = r#"{"creationTime": "2026-11-30T23:00:46.000000", "prefixes": [
            {"ipv6Prefix": "2001:db8:4801:10::/64"},
            {"ipv4Prefix": "192.0.2.0/27"}
        ]}"#;
        let a = judge(
            "googlebot.json",
            google_like.as_bytes(),
            Some("application/json"),
            None,
            50,
        )
        .unwrap();
        assert_eq!((a.entries, a.skipped), (2, 0));
        let cut = &google_like[..google_like.len() - 20];
        let cut = judge("googlebot.json", cut.as_bytes(), None, None, 50).unwrap_err();
        assert!(
            matches!(&cut, Refusal::Invalid { first, .. } if first.contains("EOF while parsing")),
            "{cut:?}"
        );
        let not_ranges = judge("x.json", br#"{"error": "quota"}"#, None, None, 50).unwrap_err();
        assert!(
            matches!(&not_ranges, Refusal::Invalid { first, .. } if first.contains("no `prefixes`")),
            "{not_ranges:?}"
        );
    }

    proptest! {
        /// Whatever a server sends, judging it never panics.
        #[test]
        fn judging_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400), prev in proptest::option::of(0u64..1000), max in 0u8..=100) {
            let _ = judge("feed", &bytes, None, prev, max);
        }
    }
}
