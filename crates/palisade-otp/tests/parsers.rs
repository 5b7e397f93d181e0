//! Property tests: the parsers never panic, and a malformed or tampered file never lets a
//! login through.

use palisade_otp::lock_owner::parse_proc_stat;
use palisade_otp::{split_response, Challenge, FailureRecord, HashFile, OwnerRecord};
use proptest::prelude::*;

/// A valid file of three entries, the answer to its first entry's challenge, and the file.
const VALID: &str = "OTPW1\n3 3 12 8\n001QOOyuUOP8DKm\n000snDPEESgZChE\n002qEJMquH%oSeY\n";
const ANSWER: &[u8] = b"geHeimzYMLYEF:";

proptest! {
    #[test]
    fn hash_file_parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = HashFile::parse(&bytes);
    }

    #[test]
    fn mostly_valid_files_never_panic(
        prefix in "OTPW1\n(# [a-z]*\n)?[0-9]{1,3} [0-9] 12 [0-9]{1,2}\n",
        lines in proptest::collection::vec("[0-9]{3}[A-Za-z0-9%:=+/-]{12}|-{15}|.{0,20}", 0..12),
    ) {
        let text = format!("{prefix}{}", lines.join("\n"));
        if let Ok(f) = HashFile::parse(text.as_bytes()) {
            prop_assert_eq!(f.to_bytes(), text.as_bytes());
            prop_assert_eq!(f.entries.len(), f.header.entries);
        }
    }

    #[test]
    fn split_response_never_panics(
        input in proptest::collection::vec(any::<u8>(), 0..100),
        count in 0usize..5,
        chars in 0usize..30,
    ) {
        if let Some(r) = split_response(&input, count, chars) {
            prop_assert_eq!(r.passwords.len(), count);
            prop_assert!(r.prefix.len() <= input.len());
        }
    }

    #[test]
    fn lock_owner_parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = OwnerRecord::parse(&bytes);
        let _ = parse_proc_stat(&bytes);
    }

    #[test]
    fn mostly_valid_owner_records_never_panic(
        text in "palisade-lock-owner-1 link=[0-9]{1,5}:-?[0-9]{1,3}\\.[0-9]{1,3} pid=[0-9]{1,12} start=[0-9a-z]{1,3} machine=[a-f0-9]{0,4} boot=[a-f0-9-]{0,4} pidns=[0-9]{1,25}\n?",
    ) {
        if let Some(r) = OwnerRecord::parse(text.as_bytes()) {
            prop_assert_eq!(OwnerRecord::parse(r.to_text().as_bytes()), Some(r));
        }
    }

    #[test]
    fn failure_record_parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
        let _ = FailureRecord::parse(&bytes);
    }

    /// Changing any one byte of a valid file either makes it unparsable or, if it still
    /// parses, the old answer only passes when the challenged entry's hash is unchanged. (Its
    /// number may change: OTPW does not hash the number, so a renumbered entry still takes the
    /// password printed for it, as with the original tools.)
    #[test]
    fn a_tampered_file_never_accepts_a_changed_entry(pos in 0..VALID.len(), byte in any::<u8>()) {
        let mut bytes = VALID.as_bytes().to_vec();
        bytes[pos] = byte;
        if let Ok(f) = HashFile::parse(&bytes) {
            if let Some(c) = Challenge::single(&f) {
                let line_start = f.entry_offset(c.entries[0]) as usize;
                let original_hash = &VALID.as_bytes()[line_start + 3..line_start + 15];
                if c.verify(&f, ANSWER) {
                    prop_assert_eq!(&bytes[line_start + 3..line_start + 15], original_hash);
                    prop_assert_eq!(original_hash, b"QOOyuUOP8DKm");
                }
            }
        }
    }

    /// Random answers never pass.
    #[test]
    fn random_answers_fail(input in proptest::collection::vec(any::<u8>(), 0..40)) {
        let f = HashFile::parse(VALID.as_bytes()).unwrap();
        let c = Challenge::single(&f).unwrap();
        prop_assume!(input != ANSWER);
        let typed_differently = split_response(&input, 1, 8)
            .is_some_and(|r| r.prefix == b"geHeim" && r.passwords[0] == b"zYMLYEF:");
        prop_assert_eq!(c.verify(&f, &input), typed_differently);
    }
}

#[test]
fn the_valid_file_accepts_its_answer() {
    let f = HashFile::parse(VALID.as_bytes()).unwrap();
    let c = Challenge::single(&f).unwrap();
    assert!(c.verify(&f, ANSWER));
    assert!(c.verify(&f, b"geHeimzYML YEF:"));
    assert!(!c.verify(&f, b"geHeinzYMLYEF:"));
}
