//! fail2ban's tags inside a regex: `<HOST>`, `<ADDR>`, `<IP4>`, `<IP6>`, `<CIDR>`,
//! `<SUBNET>`, `<F-ID/>`, `<F-PORT/>`, `<SKIPLINES>` and the `<F-NAME>...</F-NAME>` groups
//! (`<F-USER>`, `<F-MLFID>`, `<F-NOFAIL>`, ...), expanded into named groups as fail2ban
//! expands them, so the regex matches the same lines with the same groups.
//!
//! The address groups are `ip4` and `ip6`; the only address a failure can carry is what
//! one of them captured (see [`crate::matcher`]). `<HOST>` also accepts a host name (group
//! `dns`) exactly where fail2ban does, so that which regex matches a line does not change,
//! but palisade never resolves names from logs: a failure whose host is a name is
//! dropped. `<DNS>` (a name and nothing else) is refused outright.

use crate::sourced::SourcedText;

/// IPv4, also as the IPv4-mapped IPv6 `::ffff:1.2.3.4`.
const IP4: &str = r"(?:::f{4,6}:)?(?P<ip4>(?:\d{1,3}\.){3}\d{1,3})";
/// IPv6 (loosely; the capture is parsed afterwards).
const IP6: &str = r"(?P<ip6>(?:[0-9a-fA-F]{1,4}::?|::){1,7}(?:[0-9a-fA-F]{1,4}|:))";
const DNS: &str = r"(?P<dns>[\w\-.^_]*\w)";
const CIDR: &str = r"(?P<cidr>\d+)";

fn addr() -> String {
    format!(r"\[?(?:{IP4}|{IP6})\]?")
}

/// The regex a fixed tag stands for (`use_dns`: `<HOST>` also matches names, fail2ban's
/// default; the filter's `usedns = no` turns that off).
fn fixed_tag(name: &str, use_dns: bool) -> Option<Result<String, String>> {
    let refuse_dns = || {
        Err(format!(
            "`<{name}>` matches host names, and palisade never resolves names from logs (an attacker controls what they resolve to); use `<ADDR>` or `<HOST>`"
        ))
    };
    Some(Ok(match name {
        "HOST" if use_dns => format!("(?:{}|{DNS})", addr()),
        "HOST" | "ADDR" | "F-ADDR/" => addr(),
        "IP4" | "F-IP4/" => IP4.to_string(),
        "IP6" | "F-IP6/" => IP6.to_string(),
        "CIDR" | "F-CIDR/" => CIDR.to_string(),
        "SUBNET" | "F-SUBNET/" => format!(r"\[?(?:{IP4}|{IP6})(?:/{CIDR})?\]?"),
        "DNS" | "F-DNS/" => return Some(refuse_dns()),
        "F-ID/" => r"(?P<fid>\S+)".to_string(),
        "F-PORT/" => r"(?P<fport>\w+)".to_string(),
        _ => return None,
    }))
}

/// fail2ban's short names for some `F-` groups.
fn group_name(tag: &str) -> String {
    match tag.to_lowercase().as_str() {
        "id" => "fid".to_string(),
        "port" => "fport".to_string(),
        other => other.to_string(),
    }
}

/// Expands the tags of one regex. The error is (byte offset, problem).
pub fn expand_tags(regex: &SourcedText, use_dns: bool) -> Result<SourcedText, (usize, String)> {
    let text = regex.as_str();
    let mut out = SourcedText::new();
    let mut open: Vec<String> = Vec::new();
    let mut skiplines = 0;
    let mut pos = 0;
    let mut search = 0;
    while let Some(found) = text[search..].find('<') {
        let start = search + found;
        search = start + 1;
        let Some(len) = tag_len(&text[start..]) else {
            continue;
        };
        let tag = &text[start..start + len];
        let name = &tag[1..tag.len() - 1];
        let replacement = if name == "SKIPLINES" {
            skiplines += 1;
            Some(format!(r"\n(?P<skiplines{}>(?:(?:.*\n)*?))", skiplines - 1))
        } else if let Some(fixed) = fixed_tag(name, use_dns) {
            Some(fixed.map_err(|e| (start, e))?)
        } else if let Some(custom) = name.strip_prefix("F-").filter(|c| is_custom(c)) {
            open.push(custom.to_string());
            Some(format!("(?P<{}>", group_name(custom)))
        } else if let Some(custom) = name.strip_prefix("/F-").filter(|c| is_custom(c)) {
            // A closing tag that was never opened stays as text, as in fail2ban.
            open.iter().any(|o| o == custom).then(|| ")".to_string())
        } else {
            None
        };
        if let Some(replacement) = replacement {
            let origin = regex.origin_or_options(start);
            out.push_slice(regex, pos..start);
            out.push_str(&replacement, &origin);
            pos = start + len;
            search = pos;
        }
    }
    out.push_slice(regex, pos..text.len());
    Ok(out)
}

/// Length of a tag `</?[\w-]+/?>` at the start of `text`.
fn tag_len(text: &str) -> Option<usize> {
    let mut i = 1;
    let bytes = text.as_bytes();
    if bytes.get(i) == Some(&b'/') {
        i += 1;
    }
    let name_start = i;
    while let Some(&b) = bytes.get(i) {
        if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b >= 0x80 {
            i += 1;
        } else {
            break;
        }
    }
    if i == name_start {
        return None;
    }
    if bytes.get(i) == Some(&b'/') {
        i += 1;
    }
    (bytes.get(i) == Some(&b'>')).then_some(i + 1)
}

/// fail2ban's custom group names: upper case, digits, `_`, `-`.
fn is_custom(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// fail2ban turns `((?i)x)` and `(?:(?i)x)` into `(?i:x)` before compiling.
pub fn localize_flags(regex: &SourcedText) -> SourcedText {
    let mut current = regex.clone();
    loop {
        let text = current.as_str();
        let found = ["(?:(?", "((?"].iter().find_map(|open| {
            let mut from = 0;
            while let Some(at) = text[from..].find(open) {
                let at = from + at;
                from = at + 1;
                if at > 0 && text.as_bytes()[at - 1] == b'\\' {
                    continue;
                }
                let flags_start = at + open.len();
                let n = text[flags_start..]
                    .bytes()
                    .take_while(|b| b.is_ascii_lowercase())
                    .count();
                if n > 0 && text[flags_start + n..].starts_with(')') {
                    return Some((at, open.len(), n));
                }
            }
            None
        });
        let Some((at, open_len, n)) = found else {
            return current;
        };
        let flags = &text[at + open_len - 2..at + open_len + n];
        let origin = current.origin_or_options(at);
        let with = SourcedText::plain(&format!("{flags}:"), &origin);
        current = current.replaced(at..at + open_len + n + 1, &with);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sourced::Origin;

    fn expand(s: &str) -> Result<String, (usize, String)> {
        let o = Origin {
            file: "t".into(),
            line: 1,
        };
        expand_tags(&SourcedText::plain(s, &o), true).map(|t| t.as_str().to_string())
    }

    #[test]
    fn f_groups_become_named_groups_and_unopened_closers_stay() {
        assert_eq!(expand("<F-USER>\\S+</F-USER>").unwrap(), "(?P<user>\\S+)");
        assert_eq!(expand("<F-ID/> x").unwrap(), "(?P<fid>\\S+) x");
        assert_eq!(expand("a</F-USER>").unwrap(), "a</F-USER>");
        assert_eq!(
            expand("(?P<cond>x) <f-user>").unwrap(),
            "(?P<cond>x) <f-user>"
        );
        assert!(expand("from <HOST>").unwrap().contains("(?P<ip4>"));
    }

    #[test]
    fn dns_tags_are_refused() {
        let (at, e) = expand("x <DNS>").unwrap_err();
        assert_eq!(at, 2);
        assert!(e.contains("never resolves names"), "{e}");
    }

    #[test]
    fn global_flags_in_groups_become_scoped() {
        let o = Origin {
            file: "t".into(),
            line: 1,
        };
        let t = localize_flags(&SourcedText::plain(r"a(?:(?i)b)c((?s)d)\((?i)x)", &o));
        assert_eq!(t.as_str(), r"a(?i:b)c(?s:d)\((?i)x)");
    }
}
