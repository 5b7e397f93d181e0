//! Splitting what the user typed into the prefix password and the one-time passwords.
//!
//! The one-time part is read from the right end of the answer: as many characters of the
//! alphabet as the challenge needs, after undoing backspace/DEL and normalizing look-alikes
//! (anything else, such as the spaces printed on the sheet, is skipped). Everything left of
//! the first one-time character is the prefix, byte for byte, exactly as OTPW reads it, so
//! a prefix may contain any character at all.

use crate::alphabet;

const BACKSPACE: u8 = 8;
const DEL: u8 = 127;

/// An answer taken apart.
#[derive(Debug, PartialEq, Eq)]
pub struct Response<'a> {
    pub prefix: &'a [u8],
    /// The one-time passwords, normalized, in the order they were asked for.
    pub passwords: Vec<Vec<u8>>,
}

/// Split `input` for a challenge of `count` passwords of `chars` characters each; `None`
/// when it holds too few valid characters (or the challenge asks for nothing).
pub fn split_response(input: &[u8], count: usize, chars: usize) -> Option<Response<'_>> {
    if count == 0 || chars == 0 {
        return None;
    }
    let needed = count.checked_mul(chars)?;
    let mut collected = Vec::with_capacity(needed);
    let mut end = input.len();
    let mut pending_deletes = 0usize;
    while collected.len() < needed {
        let c = *input[..end].last()?;
        end -= 1;
        if c == BACKSPACE || c == DEL {
            pending_deletes += 1;
        } else if pending_deletes > 0 {
            pending_deletes -= 1;
        } else if let Some(n) = alphabet::normalize(c) {
            collected.push(n);
        }
    }
    collected.reverse();
    Some(Response {
        prefix: &input[..end],
        passwords: collected.chunks(chars).map(<[u8]>::to_vec).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(input: &str, count: usize) -> Option<(String, Vec<String>)> {
        split_response(input.as_bytes(), count, 8).map(|r| {
            (
                String::from_utf8(r.prefix.to_vec()).unwrap(),
                r.passwords
                    .into_iter()
                    .map(|p| String::from_utf8(p).unwrap())
                    .collect(),
            )
        })
    }

    fn pair(prefix: &str, passwords: &[&str]) -> Option<(String, Vec<String>)> {
        Some((
            prefix.into(),
            passwords.iter().map(|p| p.to_string()).collect(),
        ))
    }

    #[test]
    fn takes_the_password_from_the_right() {
        assert_eq!(split("geHeimRLIrsDWh", 1), pair("geHeim", &["RLIrsDWh"]));
        assert_eq!(split("geHeimRLIr sDWh", 1), pair("geHeim", &["RLIrsDWh"]));
        assert_eq!(split("RLIrsDWh", 1), pair("", &["RLIrsDWh"]));
        assert_eq!(
            split("a b\tc%RLIr\tsDWh ", 1),
            pair("a b\tc%", &["RLIrsDWh"])
        );
    }

    #[test]
    fn normalizes_look_alikes() {
        assert_eq!(split("pwR1lrsDW|", 1), pair("pw", &["RIIrsDWI"]));
        assert_eq!(split("pw0O\\/abcd", 1), pair("pw", &["OO//abcd"]));
    }

    #[test]
    fn undoes_backspace_and_del() {
        assert_eq!(
            split("geHeimRLIrsDWx\x08h", 1),
            pair("geHeim", &["RLIrsDWh"])
        );
        assert_eq!(
            split("geHeimRLIrsDWxy\x7f\x7fh", 1),
            pair("geHeim", &["RLIrsDWh"])
        );
    }

    #[test]
    fn splits_three_passwords_in_order() {
        assert_eq!(
            split("pre Q=XK 4I7w IZdB bqyH A5z9 japt", 3),
            pair("pre ", &["Q=XK4I7w", "IZdBbqyH", "A5z9japt"])
        );
    }

    #[test]
    fn too_short_is_none() {
        assert_eq!(split("RLIrsDW", 1), None);
        assert_eq!(split("RLIrsDW h\x08", 1), None);
        assert_eq!(split("", 1), None);
        assert_eq!(split("geHeimRLIrsDWh", 3), None);
        assert_eq!(split("geHeimRLIrsDWh", 0), None);
        assert_eq!(split_response(b"abc", 1, 0), None);
    }
}
