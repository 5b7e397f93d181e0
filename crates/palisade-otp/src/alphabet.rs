//! OTPW's modified base64: standard base64 with the easily confused `l`, `0` and `1`
//! replaced by `%`, `:` and `=`, so a printed password never asks the reader to tell them apart.

/// The 64 characters, in value order.
pub const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijk%mnopqrstuvwxyz:=23456789+/";

/// Encode the first `6 * chars` bits of `bits`, most significant bit first, one character per
/// six bits. Bits past the end of `bits` count as zero, so this never panics.
pub fn encode(bits: &[u8], chars: usize) -> Vec<u8> {
    (0..chars)
        .map(|i| {
            let bit = i * 6;
            let byte = |k: usize| u16::from(bits.get(k).copied().unwrap_or(0));
            let window = (byte(bit / 8) << 8) | byte(bit / 8 + 1);
            let value = (window >> (10 - bit % 8)) & 0x3f;
            ALPHABET[value as usize]
        })
        .collect()
}

/// Is `c` one of the 64 characters?
pub fn contains(c: u8) -> bool {
    ALPHABET.contains(&c)
}

/// What a typed character stands for: look-alikes map to the character printed on the sheet
/// (`l`, `1`, `|` to `I`; `0` to `O`; `\` to `/`); anything else outside the alphabet
/// (spaces, tabs) stands for nothing.
pub fn normalize(c: u8) -> Option<u8> {
    match c {
        b'l' | b'1' | b'|' => Some(b'I'),
        b'0' => Some(b'O'),
        b'\\' => Some(b'/'),
        c if contains(c) => Some(c),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_like_base64_with_the_substitutions() {
        // Standard base64 of "Man" is "TWFu"; of d7 6d f8 it is "1234", here "=234".
        assert_eq!(encode(b"Man", 4), b"TWFu");
        assert_eq!(encode(&[0xd7, 0x6d, 0xf8], 4), b"=234");
        assert_eq!(encode(&[0x00, 0x00, 0x00], 4), b"AAAA");
        assert_eq!(encode(&[0xff, 0xff, 0xff], 4), b"////");
        // Value 37 is `l` in base64, `%` here; 52 is `0` -> `:`, 53 is `1` -> `=`.
        assert_eq!(ALPHABET[37], b'%');
        assert_eq!(ALPHABET[52], b':');
        assert_eq!(ALPHABET[53], b'=');
    }

    #[test]
    fn encode_reads_past_the_end_as_zero() {
        assert_eq!(encode(&[0xff], 3), b"/wA");
        assert_eq!(encode(&[], 2), b"AA");
    }

    #[test]
    fn alphabet_has_64_distinct_characters_and_no_look_alikes() {
        let mut sorted = ALPHABET.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 64);
        for c in b"01l|\\ \t" {
            assert!(!contains(*c));
        }
    }

    #[test]
    fn normalizes_look_alikes_and_drops_the_rest() {
        assert_eq!(normalize(b'l'), Some(b'I'));
        assert_eq!(normalize(b'1'), Some(b'I'));
        assert_eq!(normalize(b'|'), Some(b'I'));
        assert_eq!(normalize(b'0'), Some(b'O'));
        assert_eq!(normalize(b'\\'), Some(b'/'));
        assert_eq!(normalize(b'%'), Some(b'%'));
        assert_eq!(normalize(b' '), None);
        assert_eq!(normalize(b'\t'), None);
        assert_eq!(normalize(0xc3), None);
        for &c in ALPHABET {
            assert_eq!(normalize(c), Some(c));
        }
    }
}
