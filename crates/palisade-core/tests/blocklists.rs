//! Smoke test: the real sample lists shipped in `data/blocklists` parse
//! without a single error, with the format detected from name and content.

use std::fs::File;
use std::io::{BufRead, BufReader};

use palisade_core::{detect_format, AddrRange, Format, IntervalSet, ListReader, ParseOptions};

fn path(name: &str) -> String {
    format!(
        "{}/../../data/blocklists/{}",
        env!("CARGO_MANIFEST_DIR"),
        name
    )
}

/// Lines that are neither blank nor comments: what the parser must yield.
fn data_lines(name: &str) -> usize {
    BufReader::new(File::open(path(name)).unwrap())
        .lines()
        .map(|l| l.unwrap())
        .filter(|l| {
            let t = l.trim();
            !t.is_empty() && !t.starts_with('#') && !t.starts_with(';')
        })
        .count()
}

struct Loaded {
    format: Format,
    v4: IntervalSet<u32>,
    v6: IntervalSet<u128>,
    elements: usize,
    with_comment: usize,
}

fn load(name: &str) -> Loaded {
    let head: Vec<String> = BufReader::new(File::open(path(name)).unwrap())
        .lines()
        .take(50)
        .map(|l| l.unwrap())
        .collect();
    let head: Vec<&str> = head.iter().map(String::as_str).collect();
    let format = detect_format(name, &head);
    let reader = BufReader::new(File::open(path(name)).unwrap());
    let (mut v4, mut v6) = (Vec::new(), Vec::new());
    let (mut elements, mut with_comment) = (0, 0);
    for item in ListReader::new(name, reader, format, ParseOptions::default()) {
        let el = item.unwrap_or_else(|e| panic!("{e}"));
        elements += 1;
        with_comment += usize::from(el.comment.is_some());
        match el.addr {
            AddrRange::V4(r) => v4.push(r),
            AddrRange::V6(r) => v6.push(r),
        }
    }
    Loaded {
        format,
        v4: IntervalSet::from_unsorted(v4),
        v6: IntervalSet::from_unsorted(v6),
        elements,
        with_comment,
    }
}

#[test]
fn every_sample_parses_cleanly() {
    let expected = [
        ("firehol_level1.netset", Format::Netset),
        ("firehol_level1_2016.netset", Format::Netset),
        ("spamhaus_drop.netset", Format::Netset),
        ("spamhaus_edrop.netset", Format::Netset),
        ("ciarmy.ipset", Format::Ipset),
        ("blocklist_de_ssh.ipset", Format::Ipset),
        ("spamhaus_drop_2025-01-17.txt", Format::Spamhaus),
        ("spamhaus_dropv6_2025-01-15.txt", Format::Spamhaus),
    ];
    let dir = format!("{}/../../data/blocklists", env!("CARGO_MANIFEST_DIR"));
    let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    on_disk.sort();
    for name in &on_disk {
        // New samples are parsed too, even before they get an expectation here.
        let l = load(name);
        assert_eq!(l.elements, data_lines(name), "{name}");
        assert!(l.elements > 0, "{name}");
        if let Some((_, want)) = expected.iter().find(|(n, _)| n == name) {
            assert_eq!(l.format, *want, "{name}");
        }
    }
    assert!(on_disk.len() >= expected.len());
}

#[test]
fn spamhaus_samples_keep_references() {
    let l = load("spamhaus_drop_2025-01-17.txt");
    assert_eq!(l.with_comment, l.elements);
    assert!(l.v6.is_empty());
    let l6 = load("spamhaus_dropv6_2025-01-15.txt");
    assert_eq!(l6.with_comment, l6.elements);
    assert!(l6.v4.is_empty() && !l6.v6.is_empty());
}

#[test]
fn firehol_level1_covers_spamhaus_drop() {
    // FireHOL level1 includes the Spamhaus DROP list of the same day, which
    // exercises the set algebra on real data.
    let level1 = load("firehol_level1.netset").v4;
    let drop = load("spamhaus_drop.netset").v4;
    assert!(drop.difference(&level1).address_count() < drop.address_count());
    let both = level1.intersection(&drop);
    assert_eq!(
        both.address_count() + drop.difference(&level1).address_count(),
        drop.address_count()
    );
    assert_eq!(
        level1.union(&drop),
        level1.union(&both).union(&drop.difference(&level1))
    );
}
