//! `prefregex`: the common start of a filter's lines, matched once per line, whose
//! `<F-CONTENT>` is what the failregexes then see.
//!
//! Nearly every prefregex ends in `<F-CONTENT>.+</F-CONTENT>$`: "the rest of the line".
//! Capturing that rest makes the regex engine walk the whole line with its slowest
//! (capturing) machinery. So the part before it is also compiled alone; when its match
//! leaves a non-empty rest without a line break, that rest is exactly what the whole
//! prefregex would capture (the first way the start can match that leaves something for
//! `.+` is the whole regex's first match), and otherwise the whole prefregex decides.

use crate::filter::Rule;
use crate::mlfid::Fail;

/// `<F-CONTENT>.+</F-CONTENT>$` after tag expansion.
pub const CONTENT_TO_END: &str = "(?P<content>.+)$";

#[derive(Debug)]
pub(crate) struct Prefix {
    pub whole: Rule,
    /// The prefregex without [`CONTENT_TO_END`], when it ends with it.
    pub head: Option<Rule>,
}

impl Prefix {
    /// The prefregex's groups and content for `buf`, `None` if it does not match.
    pub fn apply(&self, buf: &str) -> Option<(Fail, Option<String>)> {
        if let Some(head) = &self.head {
            if let Some(spans) = head.regex.search(buf) {
                let end = spans[0]?.1;
                let rest = &buf[end..];
                if !rest.is_empty() && !rest.contains('\n') {
                    let groups = head.groups.read(buf, &spans, &Fail::default());
                    return Some((groups, Some(rest.to_string())));
                }
            }
        }
        let spans = self.whole.regex.search(buf)?;
        let groups = self.whole.groups.read(buf, &spans, &Fail::default());
        let content = self
            .whole
            .groups
            .content
            .and_then(|g| spans.get(g).copied().flatten())
            .map(|(s, e)| buf[s..e].to_string())
            .filter(|c| !c.is_empty());
        Some((groups, content))
    }
}

#[cfg(test)]
mod tests {
    use crate::filter::compile_prefix;
    use crate::sourced::{Origin, SourcedText};

    #[test]
    fn the_short_way_gives_what_the_whole_prefregex_gives() {
        let origin = Origin {
            file: "t.conf".into(),
            line: 1,
        };
        let text = SourcedText::plain(
            r"^<F-MLFID>\S*</F-MLFID> ?<F-CONTENT>.+</F-CONTENT>$",
            &origin,
        );
        let prefix = compile_prefix(&text, false).unwrap();
        assert!(prefix.head.is_some());
        for (line, mlfid, content) in [
            ("sshd[1]: hello", "sshd[1]:", "hello"),
            // The start alone takes the whole line; the whole regex gives one char back.
            ("abc", "ab", "c"),
            // A line break: `.+$` cannot cross it; the whole regex decides (no match).
        ] {
            let (groups, got) = prefix.apply(line).unwrap();
            assert_eq!(groups.mlfid.as_deref(), Some(mlfid), "{line}");
            assert_eq!(got.as_deref(), Some(content), "{line}");
        }
        assert!(prefix.apply("a b\nc").is_none());
    }
}
