//! New password sheets: the passwords, the hash file that goes with them, and the printed page.

use crate::alphabet;
use crate::file::{Entry, HashFile};
use crate::hash::otpw_hash;
use thiserror::Error;

/// Digits of a challenge number, as OTPW prints them.
pub const NUMBER_DIGITS: usize = 3;
/// Characters per password: 8 × 6 = 48 bits, OTPW's default.
pub const PASSWORD_CHARS: usize = 8;
/// Three digits number at most 1000 passwords uniquely (000 to 999).
pub const MAX_COUNT: usize = 1000;
/// The default sheet: one printed page of 5 columns × 56 rows.
pub const DEFAULT_COUNT: usize = 280;
const COLUMNS: usize = 5;
const ROWS_PER_PAGE: usize = 56;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum GenError {
    #[error(
        "{0} passwords cannot be numbered with {NUMBER_DIGITS} digits: choose 1 to {MAX_COUNT}"
    )]
    Count(usize),
}

/// Can `count` passwords be numbered uniquely?
pub fn check_count(count: usize) -> Result<(), GenError> {
    if (1..=MAX_COUNT).contains(&count) {
        Ok(())
    } else {
        Err(GenError::Count(count))
    }
}

/// A new sheet: `passwords[n]` is printed as number `n`; `file` stores their hashes.
pub struct Generated {
    pub passwords: Vec<Vec<u8>>,
    pub file: HashFile,
}

/// Make `count` passwords from `random_bytes` (the OS's secure source in the command) and
/// their hash file. The file lists them in a random order, as `otpw-gen` does, so the order
/// of challenges says nothing about the sheet's layout.
pub fn generate(
    prefix: &[u8],
    count: usize,
    random_bytes: &mut dyn FnMut(&mut [u8]),
) -> Result<Generated, GenError> {
    check_count(count)?;
    let mut bits = [0u8; PASSWORD_CHARS * 6 / 8];
    let passwords: Vec<Vec<u8>> = (0..count)
        .map(|_| {
            random_bytes(&mut bits);
            alphabet::encode(&bits, PASSWORD_CHARS)
        })
        .collect();
    let mut order: Vec<usize> = (0..count).collect();
    for i in (1..count).rev() {
        let mut r = [0u8; 8];
        random_bytes(&mut r);
        // count ≤ 1000, so the modulo bias is below 2^-50.
        let j = (u64::from_le_bytes(r) % (i as u64 + 1)) as usize;
        order.swap(i, j);
    }
    let entries = order
        .iter()
        .map(|&n| Entry::Unused {
            number: n as u32,
            hash: otpw_hash(prefix, &passwords[n]),
        })
        .collect();
    Ok(Generated {
        passwords,
        file: HashFile::new(NUMBER_DIGITS, PASSWORD_CHARS, entries),
    })
}

/// The printed sheet: `title` on top, then pages of 5 columns × 56 rows numbered down the
/// columns (`000 IZdB bqyH`), then the reminder to type the prefix first. Pages after the
/// first start with a form feed.
pub fn render_sheet(title: &str, passwords: &[Vec<u8>]) -> String {
    let mut out = format!("{title}\n\n");
    let per_page = COLUMNS * ROWS_PER_PAGE;
    for (page, chunk) in passwords.chunks(per_page).enumerate() {
        if page > 0 {
            out.push_str("\x0c\n");
        }
        let base = page * per_page;
        let rows = chunk.len().div_ceil(COLUMNS);
        for row in 0..rows {
            let cells: Vec<String> = (0..COLUMNS)
                .map(|col| col * rows + row)
                .filter(|&i| i < chunk.len())
                .map(|i| {
                    let pw = String::from_utf8_lossy(&chunk[i]);
                    let (a, b) = pw.split_at(pw.len() / 2);
                    format!("{:03} {a} {b}", base + i)
                })
                .collect();
            out.push_str(&cells.join("  "));
            out.push('\n');
        }
    }
    out.push_str("\n            !!! REMEMBER: Enter the PREFIX PASSWORD first !!!\n");
    out
}

/// What a session is told after logging in: how many passwords are left, and, once half of
/// the sheet is used (OTPW's rule), that it is time to print a new one.
pub fn remaining_message(file: &HashFile) -> String {
    let left = file.remaining();
    let total = file.header.entries;
    let mut message = format!("{left} of {total} one-time passwords left.");
    if 2 * left < total {
        message.push_str(" Time to print a new sheet: run `palisade otp gen`.");
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::challenge::Challenge;

    fn fixed_random(seed: u8) -> impl FnMut(&mut [u8]) {
        let mut n = seed;
        move |buf: &mut [u8]| {
            for b in buf {
                n = n.wrapping_mul(73).wrapping_add(41);
                *b = n;
            }
        }
    }

    #[test]
    fn asks_for_a_new_sheet_once_half_is_used() {
        let mut g = generate(b"x", 4, &mut fixed_random(2)).unwrap();
        assert_eq!(
            remaining_message(&g.file),
            "4 of 4 one-time passwords left."
        );
        g.file.entries[0] = Entry::Used;
        g.file.entries[1] = Entry::Used;
        assert_eq!(
            remaining_message(&g.file),
            "2 of 4 one-time passwords left."
        );
        g.file.entries[2] = Entry::Used;
        assert!(remaining_message(&g.file).ends_with("run `palisade otp gen`."));
    }

    #[test]
    fn refuses_counts_three_digits_cannot_number() {
        let mut r = fixed_random(1);
        assert_eq!(generate(b"", 0, &mut r).err(), Some(GenError::Count(0)));
        assert_eq!(
            generate(b"", 1001, &mut r).err(),
            Some(GenError::Count(1001))
        );
        assert!(generate(b"", 1000, &mut r).is_ok());
    }

    #[test]
    fn every_password_verifies_against_its_number() {
        let g = generate(b"geHeim", 30, &mut fixed_random(7)).unwrap();
        assert_eq!(g.passwords.len(), 30);
        assert!(g.passwords.iter().all(|p| p.len() == 8));
        for (index, number, hash) in g.file.unused() {
            let n = number as usize;
            assert_eq!(hash, &otpw_hash(b"geHeim", &g.passwords[n]));
            let c = Challenge {
                entries: vec![index],
            };
            let mut input = b"geHeim".to_vec();
            input.extend_from_slice(&g.passwords[n]);
            assert!(c.verify(&g.file, &input));
        }
        let mut numbers: Vec<u32> = g.file.unused().map(|(_, n, _)| n).collect();
        assert_ne!(
            numbers,
            (0..30).collect::<Vec<_>>(),
            "file order is shuffled"
        );
        numbers.sort_unstable();
        assert_eq!(numbers, (0..30).collect::<Vec<_>>());
        let bytes = g.file.to_bytes();
        assert!(bytes.starts_with(b"OTPW1\n30 3 12 8\n"));
    }

    #[test]
    fn the_default_sheet_is_five_columns_of_56_numbered_down() {
        let g = generate(b"x", DEFAULT_COUNT, &mut fixed_random(3)).unwrap();
        let text = render_sheet("title", &g.passwords);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1 + 1 + 56 + 1 + 1);
        assert_eq!(lines[0], "title");
        let first_row: Vec<&str> = lines[2].split("  ").map(|c| &c[..3]).collect();
        assert_eq!(first_row, ["000", "056", "112", "168", "224"]);
        let last_row: Vec<&str> = lines[57].split("  ").map(|c| &c[..3]).collect();
        assert_eq!(last_row, ["055", "111", "167", "223", "279"]);
        let pw = String::from_utf8(g.passwords[56].clone()).unwrap();
        assert_eq!(&lines[2][15..28], format!("056 {} {}", &pw[..4], &pw[4..]));
        assert!(lines[2].len() <= 79);
        assert!(lines[59].contains("PREFIX PASSWORD"));
    }

    #[test]
    fn layout_matches_otpw_gen() {
        // The same cells in the same places as a sheet printed by otpw-gen (its line endings
        // and title aside).
        let printed = include_str!("../tests/data/otpw-gen-280.sheet");
        let mut passwords = vec![Vec::new(); 280];
        for cell in printed.lines().skip(2).take(56).flat_map(|l| l.split("  ")) {
            let n: usize = cell[..3].parse().unwrap();
            passwords[n] = cell[4..].replace(' ', "").into_bytes();
        }
        let ours = render_sheet(printed.lines().next().unwrap(), &passwords);
        assert_eq!(ours, printed);
    }

    #[test]
    fn long_sheets_continue_on_new_pages() {
        let g = generate(b"x", 300, &mut fixed_random(5)).unwrap();
        let text = render_sheet("t", &g.passwords);
        let pages: Vec<&str> = text.split('\x0c').collect();
        assert_eq!(pages.len(), 2);
        assert!(pages[1].starts_with("\n280 "));
        assert!(pages[1].contains("  284 "));
        assert!(pages[1].contains("\n283 "));
        assert!(pages[1].contains("  299 "));
    }
}
