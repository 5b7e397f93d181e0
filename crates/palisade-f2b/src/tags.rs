//! `<name>` in option values: fail2ban's second substitution, done after `%(name)s`.
//!
//! Where `%(name)s` is configparser's and fixed when a file is read, `<name>` is resolved
//! against the final options, so the jail's options can steer it: sshd's
//! `failregex = ... <mdre-<mode>>` becomes `<mdre-normal>` and then that option's value.
//! A tag that names no option (`<HOST>`, `<F-USER>`, `(?P<name>...)`) is left alone for
//! the regex stage. Substitution repeats until nothing changes; a tag that refers to
//! itself, or is replaced more than 25 times, is an error (fail2ban's limit).

use crate::error::FilterError;
use crate::sourced::SourcedText;

/// fail2ban's `MAX_TAG_REPLACE_COUNT`.
const MAX_REPLACE: usize = 25;

/// A value that grows past this while tags are substituted is an error (tags that
/// expand to several copies of each other grow exponentially).
const MAX_VALUE: usize = 1 << 20;

/// The next `<tag>` (no spaces or angle brackets inside) at or after `from`:
/// (start of `<`, the name).
fn find_tag(text: &str, from: usize) -> Option<(usize, &str)> {
    let mut pos = from;
    while let Some(found) = text.get(pos..)?.find('<') {
        let start = pos + found;
        let rest = &text[start + 1..];
        let len = rest.find([' ', '<', '>']).unwrap_or(rest.len());
        if len > 0 && rest[len..].starts_with('>') {
            return Some((start, &rest[..len]));
        }
        pos = start + 1;
    }
    None
}

/// `text` with every `<tag>` replaced by `with`.
fn replace_all(text: &SourcedText, tag: &str, with: &SourcedText) -> SourcedText {
    let needle = format!("<{tag}>");
    let mut out = SourcedText::new();
    let mut pos = 0;
    while let Some(found) = text.as_str()[pos..].find(&needle) {
        out.push_slice(text, pos..pos + found);
        out.push(with);
        pos += found + needle.len();
    }
    out.push_slice(text, pos..text.len());
    out
}

/// Substitutes tags in every value of `tags` (in place), looking names up first among
/// `tags`, then through `lookup` (fail2ban's `getCombOption`).
pub fn substitute_tags(
    tags: &mut [(String, SourcedText)],
    lookup: &mut dyn FnMut(&str) -> Result<Option<SourcedText>, FilterError>,
) -> Result<(), FilterError> {
    let mut counts: Vec<Vec<(String, usize)>> = vec![Vec::new(); tags.len()];
    let mut done = vec![false; tags.len()];
    loop {
        let mut again = false;
        for i in 0..tags.len() {
            if done[i] {
                continue;
            }
            let name = tags[i].0.clone();
            let original = tags[i].1.clone();
            let mut value = original.clone();
            let mut found = find_tag(value.as_str(), 0).map(|(s, t)| (s, t.to_string()));
            while let Some((start, tag)) = found {
                let count = counts[i]
                    .iter()
                    .find(|(t, _)| *t == tag)
                    .map_or(1, |(_, c)| *c);
                if tag == name || count > MAX_REPLACE {
                    let origin = value.origin_or_options(start);
                    return Err(FilterError::config(
                        &origin,
                        format!("`<{tag}>` in option `{name}` refers back to itself (directly or through other tags) and can never be resolved"),
                    ));
                }
                let replacement = match tags.iter().find(|(n, _)| *n == tag) {
                    Some((_, v)) => Some(v.clone()),
                    None => lookup(&tag)?,
                };
                let Some(replacement) = replacement else {
                    found = find_tag(value.as_str(), start + tag.len() + 2)
                        .map(|(s, t)| (s, t.to_string()));
                    continue;
                };
                value = replace_all(&value, &tag, &replacement);
                if value.len() > MAX_VALUE {
                    let origin = original.origin_or_options(0);
                    return Err(FilterError::config(
                        &origin,
                        format!("option `{name}` grows past {MAX_VALUE} bytes as its tags are substituted; a tag probably expands to copies of itself"),
                    ));
                }
                match counts[i].iter_mut().find(|(t, _)| *t == tag) {
                    Some((_, c)) => *c += 1,
                    None => counts[i].push((tag.clone(), 1)),
                }
                found = find_tag(value.as_str(), start).map(|(s, t)| (s, t.to_string()));
            }
            if value != original {
                if find_tag(value.as_str(), 0).is_some() {
                    again = true;
                }
                tags[i].1 = value;
            }
            if !tags[i].1.as_str().contains('<') {
                done[i] = true;
            }
        }
        if !again {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sourced::Origin;

    fn text(s: &str) -> SourcedText {
        SourcedText::plain(
            s,
            &Origin {
                file: "t".into(),
                line: 1,
            },
        )
    }

    fn run(
        tags: &mut [(String, SourcedText)],
        options: &[(&str, &str)],
    ) -> Result<(), FilterError> {
        let options: Vec<(String, String)> = options
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        substitute_tags(tags, &mut |name| {
            Ok(options
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| text(v)))
        })
    }

    #[test]
    fn nested_tags_resolve_through_options_and_unknown_tags_stay() {
        let mut tags = vec![("failregex".to_string(), text("^a <HOST>\n<mdre-<mode>>"))];
        run(&mut tags, &[("mode", "ddos"), ("mdre-ddos", "^d (?P<x>y)")]).unwrap();
        assert_eq!(tags[0].1.as_str(), "^a <HOST>\n^d (?P<x>y)");
    }

    #[test]
    fn self_reference_is_an_error() {
        let mut tags = vec![
            ("a".to_string(), text("x<b>")),
            ("b".to_string(), text("<a>")),
        ];
        let e = run(&mut tags, &[]).unwrap_err().to_string();
        assert!(e.contains("refers back to itself"), "{e}");
    }

    #[test]
    fn empty_option_values_replace_tags() {
        let mut tags = vec![("failregex".to_string(), text("x<mdre-normal>y"))];
        run(&mut tags, &[("mdre-normal", "")]).unwrap();
        assert_eq!(tags[0].1.as_str(), "xy");
    }
}
