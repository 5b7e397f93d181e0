//! Which passwords a login is asked for.
//!
//! A login normally gets the first unused password in file order and locks it. While that
//! lock is fresh, a concurrent login is asked for three other passwords at random instead,
//! so an attacker racing the user's last keystroke on a parallel connection would have to
//! guess which triple to answer. Unlike OTPW, which compared the lock against the wrong
//! field, the locked password is never part of the triple.

use crate::file::HashFile;
use crate::hash::{constant_time_eq, otpw_hash};
use crate::response::split_response;

/// Passwords in a concurrent login's challenge.
pub const TRIPLE: usize = 3;
/// With fewer unused passwords than this, no triple challenge is issued.
pub const MIN_UNUSED_FOR_TRIPLE: usize = 10;

/// The entries (indices into the file) a login must answer, in prompt order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub entries: Vec<usize>,
}

impl Challenge {
    /// The first unused password, or `None` when none is left.
    pub fn single(file: &HashFile) -> Option<Challenge> {
        let (index, _, _) = file.unused().next()?;
        Some(Challenge {
            entries: vec![index],
        })
    }

    /// Three distinct unused passwords chosen uniformly at random, never the one numbered
    /// `locked`. `random` returns uniformly random numbers (from the OS in the PAM module).
    /// `None` when fewer than [`MIN_UNUSED_FOR_TRIPLE`] passwords are left.
    pub fn triple(
        file: &HashFile,
        locked: Option<u32>,
        random: &mut dyn FnMut() -> u64,
    ) -> Option<Challenge> {
        if file.remaining() < MIN_UNUSED_FOR_TRIPLE {
            return None;
        }
        let mut candidates: Vec<usize> = file
            .unused()
            .filter(|&(_, number, _)| Some(number) != locked)
            .map(|(index, _, _)| index)
            .collect();
        // The first TRIPLE steps of a Fisher-Yates shuffle.
        for i in 0..TRIPLE {
            let j = i + uniform_below(candidates.len() - i, random);
            candidates.swap(i, j);
        }
        candidates.truncate(TRIPLE);
        Some(Challenge {
            entries: candidates,
        })
    }

    /// The numbers asked for, zero-padded, as in the prompt and the lock.
    pub fn numbers(&self, file: &HashFile) -> Vec<String> {
        self.entries
            .iter()
            .filter_map(|&i| match file.entries.get(i)? {
                crate::Entry::Unused { number, .. } => Some(file.format_number(*number)),
                crate::Entry::Used => None,
            })
            .collect()
    }

    /// `Password 003/007/024: `
    pub fn prompt(&self, file: &HashFile) -> String {
        format!("Password {}: ", self.numbers(file).join("/"))
    }

    /// Does `input` (prefix followed by the passwords asked for) answer this challenge?
    /// Every hash is computed and compared in constant time, whatever the earlier ones gave.
    pub fn verify(&self, file: &HashFile, input: &[u8]) -> bool {
        let chars = file.header.password_chars;
        let Some(response) = split_response(input, self.entries.len(), chars) else {
            return false;
        };
        let mut all = !self.entries.is_empty();
        for (&index, password) in self.entries.iter().zip(&response.passwords) {
            let expected = match file.entries.get(index) {
                Some(crate::Entry::Unused { hash, .. }) => hash,
                _ => return false,
            };
            let got = otpw_hash(response.prefix, password);
            all &= constant_time_eq(&got, expected);
        }
        all
    }
}

/// A uniform number in `0..n` (n ≥ 1) by rejection, without the bias of a plain modulo.
fn uniform_below(n: usize, random: &mut dyn FnMut() -> u64) -> usize {
    let n = n as u64;
    let zone = u64::MAX - u64::MAX % n;
    loop {
        let r = random();
        if r < zone {
            return (r % n) as usize;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::file::Entry;
    use crate::sheet::generate;

    fn counter() -> impl FnMut() -> u64 {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        move || {
            // splitmix64: deterministic and well spread, good enough for tests.
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }
    }

    fn bytes_from(mut next: impl FnMut() -> u64) -> impl FnMut(&mut [u8]) {
        move |buf: &mut [u8]| buf.iter_mut().for_each(|b| *b = next() as u8)
    }

    fn sheet(count: usize) -> crate::sheet::Generated {
        generate(b"geHeim", count, &mut bytes_from(counter())).unwrap()
    }

    fn answer(g: &crate::sheet::Generated, c: &Challenge) -> Vec<u8> {
        let mut input = b"geHeim".to_vec();
        for n in c.numbers(&g.file) {
            input.extend_from_slice(&g.passwords[n.parse::<usize>().unwrap()]);
        }
        input
    }

    #[test]
    fn single_is_the_first_unused_in_file_order() {
        let mut g = sheet(12);
        let first = Challenge::single(&g.file).unwrap();
        assert_eq!(first.entries, [0]);
        g.file.entries[0] = Entry::Used;
        g.file.entries[1] = Entry::Used;
        let c = Challenge::single(&g.file).unwrap();
        assert_eq!(c.entries, [2]);
        assert!(c.verify(&g.file, &answer(&g, &c)));
        assert_eq!(
            c.prompt(&g.file),
            format!("Password {}: ", c.numbers(&g.file)[0])
        );
    }

    #[test]
    fn none_left_means_no_challenge() {
        let mut g = sheet(2);
        g.file.entries = vec![Entry::Used, Entry::Used];
        assert_eq!(Challenge::single(&g.file), None);
    }

    #[test]
    fn triple_never_includes_the_locked_password() {
        let g = sheet(10);
        let locked = g.file.unused().next().unwrap().1;
        let mut random = counter();
        for _ in 0..2000 {
            let c = Challenge::triple(&g.file, Some(locked), &mut random).unwrap();
            let numbers: Vec<u32> = c
                .numbers(&g.file)
                .iter()
                .map(|n| n.parse().unwrap())
                .collect();
            assert_eq!(numbers.len(), 3);
            assert!(!numbers.contains(&locked));
            let mut distinct = numbers.clone();
            distinct.sort_unstable();
            distinct.dedup();
            assert_eq!(distinct.len(), 3);
        }
    }

    #[test]
    fn triple_reaches_every_other_password() {
        let g = sheet(10);
        let locked = g.file.unused().next().unwrap().1;
        let mut seen = std::collections::HashSet::new();
        let mut random = counter();
        for _ in 0..500 {
            let c = Challenge::triple(&g.file, Some(locked), &mut random).unwrap();
            seen.extend(c.entries);
        }
        assert_eq!(seen.len(), 9);
    }

    #[test]
    fn no_triple_below_ten_unused() {
        let mut g = sheet(11);
        assert!(Challenge::triple(&g.file, None, &mut counter()).is_some());
        g.file.entries[4] = Entry::Used;
        assert!(Challenge::triple(&g.file, None, &mut counter()).is_some());
        g.file.entries[5] = Entry::Used;
        assert!(Challenge::triple(&g.file, None, &mut counter()).is_none());
    }

    #[test]
    fn triple_verifies_in_prompt_order_only() {
        let g = sheet(20);
        let c = Challenge::triple(&g.file, None, &mut counter()).unwrap();
        let good = answer(&g, &c);
        assert!(c.verify(&g.file, &good));
        let mut swapped = c.clone();
        swapped.entries.swap(0, 1);
        assert!(!swapped.verify(&g.file, &good));
        assert!(!c.verify(&g.file, &good[..good.len() - 1]));
        assert!(!c.verify(&g.file, &good[6..]));
    }

    #[test]
    fn wrong_prefix_or_used_entry_fails() {
        let mut g = sheet(3);
        let c = Challenge::single(&g.file).unwrap();
        let mut wrong = answer(&g, &c);
        wrong[0] = b'G';
        assert!(!c.verify(&g.file, &wrong));
        let good = answer(&g, &c);
        g.file.entries[c.entries[0]] = Entry::Used;
        assert!(!c.verify(&g.file, &good));
        assert!(!Challenge { entries: vec![] }.verify(&g.file, b"anything"));
        assert!(!Challenge { entries: vec![99] }.verify(&g.file, &good));
    }

    #[test]
    fn uniform_below_rejects_the_biased_tail() {
        let mut values = [u64::MAX, u64::MAX - 1, 5].into_iter();
        assert_eq!(uniform_below(3, &mut || values.next().unwrap()), 2);
    }
}
