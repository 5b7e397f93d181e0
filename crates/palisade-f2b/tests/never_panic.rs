//! Whatever text a filter file, a filter name or a regex holds, loading it returns a
//! filter or an error: it never panics. Inputs mix the syntax that matters (brackets,
//! `%(...)s`, `<tags>`, regex metacharacters) with arbitrary characters.

use palisade_f2b::pyregex::{Flags, PyRegex};
use palisade_f2b::{load_filter, FilterSpec, MemorySource};
use proptest::prelude::*;

fn syntax_soup() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("[Definition]\n".to_string()),
        Just("[INCLUDES]\nbefore = t.conf\n".to_string()),
        Just("[Init]\n".to_string()),
        Just("failregex = ".to_string()),
        Just("prefregex = ".to_string()),
        Just("datepattern = ".to_string()),
        Just("maxlines = ".to_string()),
        Just("\n    ".to_string()),
        Just("%(x)s".to_string()),
        Just("%(known/failregex)s".to_string()),
        Just("<HOST>".to_string()),
        Just("<F-USER>".to_string()),
        Just("</F-USER>".to_string()),
        Just("<x-<mode>>".to_string()),
        Just("(?P<a>".to_string()),
        Just("(?(a)".to_string()),
        Just("(?<=".to_string()),
        Just("%%Y".to_string()),
        Just("{^LN-BEG}".to_string()),
        "[\\[\\](){}<>%?*+|^$.\\\\=:;# a-zA-Z0-9-]{0,8}",
        any::<char>().prop_map(String::from),
    ];
    prop::collection::vec(piece, 0..24).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn filter_files_never_panic(text in syntax_soup(), local in syntax_soup()) {
        let files = MemorySource::new().with("t.conf", &text).with("t.local", &local);
        if let Ok(filter) = load_filter(&FilterSpec::named("t"), &files) {
            let mut m = filter.matcher();
            let _ = m.feed(b"Mar  5 10:00:00 host sshd[1]: Failed password for x from 192.0.2.1 port 1 ssh2");
        }
    }

    #[test]
    fn filter_names_never_panic(text in "\\PC{0,40}") {
        let _ = FilterSpec::parse(&text);
    }

    #[test]
    fn regexes_never_panic(text in syntax_soup(), multi_line in any::<bool>()) {
        let flags = Flags { multi_line, ..Flags::default() };
        if let Ok(re) = PyRegex::new(&text, flags) {
            let _ = re.search("Failed password for x from 192.0.2.1 port 1 ssh2\nsecond line");
        }
    }
}
