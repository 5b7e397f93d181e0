//! Human durations for element timeouts: `600`, `90s`, `10m`, `1h30m`, `2d`,
//! `1w`, `500ms`.
//!
//! The syntax is the one nft prints and accepts (minus its fractional
//! forms), so values can be copied between `nft list` output and palisade.
//! Arithmetic is checked: a typo like `99999999999w` is an error, not a
//! wrapped-around short timeout.

use std::time::Duration;

use crate::problem::Problem;

const MS_PER: [(&str, u64); 6] = [
    ("ms", 1),
    ("s", 1_000),
    ("m", 60_000),
    ("h", 3_600_000),
    ("d", 86_400_000),
    ("w", 604_800_000),
];

/// Parse a duration. A bare number is seconds; otherwise a sequence of
/// `NUMBER UNIT` parts (units `ms`, `s`, `m`, `h`, `d`, `w`) that are added up.
pub fn parse_duration(s: &str) -> Result<Duration, Problem> {
    let s = s.trim();
    if s.is_empty() {
        return Err(Problem::BadDuration);
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        let secs: u64 = s.parse().map_err(|_| Problem::DurationTooLong)?;
        return Ok(Duration::from_secs(secs));
    }
    let mut rest = s;
    let mut total_ms: u64 = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(Problem::BadDuration);
        }
        // Digits are ASCII, so these offsets are char boundaries.
        let n: u64 = rest[..digits]
            .parse()
            .map_err(|_| Problem::DurationTooLong)?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let per = MS_PER
            .iter()
            .find(|(name, _)| *name == unit)
            .map(|(_, ms)| *ms)
            .ok_or(Problem::BadDuration)?;
        total_ms = n
            .checked_mul(per)
            .and_then(|ms| total_ms.checked_add(ms))
            .ok_or(Problem::DurationTooLong)?;
    }
    Ok(Duration::from_millis(total_ms))
}

/// Format as the shortest unit sequence, largest unit first, without weeks
/// (`1h30m`, `10m`, `45s`, `2d3h`, `1s500ms`; `0s` for zero).
///
/// Sub-millisecond parts are dropped, since the kernel keeps timeouts in
/// milliseconds. `parse_duration` reads the result back exactly.
pub fn format_duration(d: Duration) -> String {
    let total_ms = d.as_millis();
    if total_ms == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    let mut rest = total_ms;
    // Weeks are skipped: `2w` is less recognisable than `14d`.
    for (name, per) in MS_PER.iter().rev().skip(1) {
        let per = u128::from(*per);
        let n = rest / per;
        if n > 0 {
            out.push_str(&n.to_string());
            out.push_str(name);
            rest -= n * per;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_examples() {
        let cases = [
            ("600", 600_000),
            ("90s", 90_000),
            ("10m", 600_000),
            ("1h30m", 5_400_000),
            ("2d", 172_800_000),
            ("1w", 604_800_000),
            ("500ms", 500),
            ("1s500ms", 1_500),
            (" 5m ", 300_000),
            ("0", 0),
            ("0s", 0),
        ];
        for (s, ms) in cases {
            assert_eq!(parse_duration(s), Ok(Duration::from_millis(ms)), "{s}");
        }
    }

    #[test]
    fn rejects_garbage() {
        for s in [
            "", " ", "h", "1x", "1.5h", "-1s", "1h30", "s10", "1 h", "1hh", "ms", "१",
        ] {
            assert_eq!(parse_duration(s), Err(Problem::BadDuration), "{s:?}");
        }
    }

    #[test]
    fn rejects_overflow() {
        for s in [
            "99999999999999999999",
            "99999999999999999999s",
            "30000000000000w",
            "18446744073709551615ms1ms",
        ] {
            assert_eq!(parse_duration(s), Err(Problem::DurationTooLong), "{s}");
        }
        // Plain seconds may exceed the millisecond range of the unit form.
        assert_eq!(
            parse_duration("18446744073709551615"),
            Ok(Duration::from_secs(u64::MAX))
        );
    }

    #[test]
    fn formats_examples() {
        let cases = [
            (5_400_000, "1h30m"),
            (600_000, "10m"),
            (45_000, "45s"),
            (183_600_000, "2d3h"),
            (1_500, "1s500ms"),
            (0, "0s"),
            (1_209_600_000, "14d"),
        ];
        for (ms, s) in cases {
            assert_eq!(format_duration(Duration::from_millis(ms)), s);
        }
        assert_eq!(format_duration(Duration::from_nanos(999_999)), "0s");
    }

    proptest! {
        #[test]
        fn roundtrip(ms in 0u64..=u64::MAX / 2) {
            let d = Duration::from_millis(ms);
            prop_assert_eq!(parse_duration(&format_duration(d)), Ok(d));
        }

        #[test]
        fn never_panics(s in any::<String>()) {
            let _ = parse_duration(&s);
        }

        #[test]
        fn never_panics_on_duration_like(s in "[0-9smhdw]{0,30}") {
            let _ = parse_duration(&s);
        }
    }
}

/// `2026-11-24 23:57:17 UTC` for seconds since the Unix epoch (the proleptic Gregorian
/// calendar, from days to civil date as in Howard Hinnant's algorithm).
pub fn format_utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod utc_tests {
    use super::format_utc;

    #[test]
    fn known_instants() {
        assert_eq!(format_utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(format_utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(format_utc(1_795_564_458), "2026-11-24 23:54:18 UTC");
        assert_eq!(format_utc(4_102_444_799), "2099-12-31 23:59:59 UTC");
    }
}
