//! Reading filter files as fail2ban does: includes and `.local` overrides, `%(...)s`
//! interpolation, `<tag>` substitution, `[Init]` and options given with the name, and
//! errors that point at the line to fix. Every file here is written for these tests.

use std::net::IpAddr;
use std::path::PathBuf;

use palisade_f2b::{load_filter, DirSource, Filter, FilterSpec, MemorySource};

fn filters_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/filters")
}

fn load(spec: &str, files: &MemorySource) -> Filter {
    load_filter(&FilterSpec::parse(spec).unwrap(), files).unwrap_or_else(|e| panic!("{spec}: {e}"))
}

fn load_err(spec: &str, files: &MemorySource) -> String {
    load_filter(&FilterSpec::parse(spec).unwrap(), files)
        .expect_err(spec)
        .to_string()
}

fn host(filter: &Filter, line: &str) -> Option<IpAddr> {
    filter.matcher().feed(line.as_bytes()).map(|f| f.host)
}

fn ip(s: &str) -> Option<IpAddr> {
    Some(s.parse().unwrap())
}

#[test]
fn dir_source_reads_includes_and_the_admins_local_override() {
    let filter = load_filter(
        &FilterSpec::named("demo-sshd"),
        &DirSource::new(filters_dir()),
    )
    .unwrap();
    assert_eq!(
        filter.files(),
        ["prefixes.conf", "demo-sshd.conf", "demo-sshd.local"],
        "prefixes.local is missing and skipped, demo-sshd.local comes last"
    );
    // From the .conf (kept through %(known/failregex)s) and from the .local.
    let line = "Mar  5 10:00:00 web1 sshd[7]: Invalid user bob from 192.0.2.1 port 22";
    assert_eq!(host(&filter, line), ip("192.0.2.1"));
    let line = "Mar  5 10:00:00 web1 sshd[7]: Bad protocol version identification 'x' from 192.0.2.2 port 22";
    assert_eq!(host(&filter, line), ip("192.0.2.2"));
    // A path works as well as a name, with or without `.conf`.
    let path = filters_dir().join("demo-sshd.conf");
    let by_path = load_filter(
        &FilterSpec::named(path.to_str().unwrap()),
        &DirSource::new("/nonexistent"),
    )
    .unwrap();
    assert_eq!(by_path.failregexes().len(), filter.failregexes().len());
}

#[test]
fn mode_option_selects_regexes_through_nested_tags() {
    let source = DirSource::new(filters_dir());
    let line =
        "Mar  5 10:00:00 web1 sshd[8]: Did not receive identification string from 192.0.2.3 port 4";
    let normal = load_filter(&FilterSpec::parse("demo-sshd").unwrap(), &source).unwrap();
    assert_eq!(host(&normal, line), None);
    let aggressive = load_filter(
        &FilterSpec::parse("demo-sshd[mode=aggressive]").unwrap(),
        &source,
    )
    .unwrap();
    assert_eq!(host(&aggressive, line), ip("192.0.2.3"));
    assert_eq!(
        aggressive.failregexes().len(),
        normal.failregexes().len() + 1
    );
}

#[test]
fn interpolation_reaches_defaults_other_sections_and_the_section_name() {
    let files = MemorySource::new()
        .with(
            "base.conf",
            "[DEFAULT]\nword = login\n[shared]\nverb = failed\n",
        )
        .with(
            "f.conf",
            "[INCLUDES]\nbefore = base.conf\n\n[Definition]\n\
             # A comment, then a value over several lines.\n\
             failregex = ^%(word)s %(shared/verb)s from <HOST>$\n\
             \t^%(__name__)s said %(default/word)s 100%% bad from <HOST>$\n",
        );
    let f = load("f", &files);
    assert_eq!(host(&f, "login failed from 192.0.2.4"), ip("192.0.2.4"));
    assert_eq!(
        host(&f, "Definition said login 100% bad from 192.0.2.5"),
        ip("192.0.2.5")
    );
}

#[test]
fn init_options_and_options_given_with_the_name() {
    let files = MemorySource::new().with(
        "f.conf",
        "[Definition]\nfailregex = ^<greeting> from <HOST>$\n\n[Init]\ngreeting = hello\n",
    );
    let f = load("f", &files);
    assert_eq!(host(&f, "hello from 192.0.2.6"), ip("192.0.2.6"));
    assert_eq!(host(&f, "bye from 192.0.2.6"), None);
    // Given with the name, it wins over [Init].
    let f = load("f[greeting=bye]", &files);
    assert_eq!(host(&f, "bye from 192.0.2.7"), ip("192.0.2.7"));
    // Options given with the name also win in %(...)s expansion.
    let files = MemorySource::new().with(
        "g.conf",
        "[Definition]\nword = a\nfailregex = ^%(word)s <HOST>$\n",
    );
    assert_eq!(
        host(&load("g[word=zz]", &files), "zz 192.0.2.8"),
        ip("192.0.2.8")
    );
    // `known/` reaches the [Init] value that an option given with the name replaced.
    let files = MemorySource::new().with(
        "h.conf",
        "[Definition]\nfailregex = ^<known/w><w> <HOST>$\n[Init]\nw = x\n",
    );
    assert_eq!(
        host(&load("h[w=y]", &files), "xy 192.0.2.9"),
        ip("192.0.2.9")
    );
}

#[test]
fn local_files_of_includes_and_dot_d_directories_are_read_in_order() {
    let files = MemorySource::new()
        .with("c.conf", "[DEFAULT]\nthing = one\n")
        .with("c.local", "[DEFAULT]\nthing = two\n")
        .with(
            "f.conf",
            "[INCLUDES]\nbefore = c.conf\n[Definition]\nfailregex = ^%(thing)s <HOST>$\n",
        )
        .with("f.d/10-more.conf", "[Definition]\nmaxlines = 1\n");
    let f = load("f", &files);
    assert_eq!(
        f.files(),
        ["c.conf", "c.local", "f.conf", "f.d/10-more.conf"]
    );
    assert_eq!(host(&f, "two 192.0.2.10"), ip("192.0.2.10"));
}

#[test]
fn errors_name_the_file_the_line_and_what_to_do() {
    let files = MemorySource::new()
        .with(
            "missing-ref.conf",
            "[Definition]\nfailregex = ^a <HOST>$\n            ^%(nope)s <HOST>$\n",
        )
        .with(
            "broken.conf",
            "[Definition]\nfailregex = ^a <HOST>$\nthis line is not an option\n",
        )
        .with(
            "self.conf",
            "[Definition]\nfailregex = ^<a> <HOST>$\na = <b>\nb = <a>\n",
        )
        .with("empty.conf", "[Definition]\nfailregex =\n")
        .with(
            "lines.conf",
            "[Definition]\nfailregex = ^x <HOST>$\nmaxlines = many\n",
        )
        .with("noid.conf", "[Definition]\nfailregex = ^just text$\n");
    for (spec, expected) in [
        (
            "missing-ref",
            "missing-ref.conf:3: `%(nope)s`: no option `nope`",
        ),
        (
            "broken",
            "broken.conf:3: `this line is not an option` is neither",
        ),
        ("self", "refers back to itself"),
        ("empty", "filter `empty`: has no failregex"),
        ("lines", "lines.conf:3: maxlines = `many`"),
        (
            "noid",
            "noid.conf:2: failregex `^just text$`: says nothing about who failed",
        ),
        ("absent", "filter `absent`: no file `absent.conf`"),
    ] {
        let e = load_err(spec, &files);
        assert!(e.contains(expected), "{spec}: {e}");
    }
    let e = FilterSpec::parse("sshd[mode=aggressive")
        .unwrap_err()
        .to_string();
    assert!(e.contains("must end with `]`"), "{e}");
}
