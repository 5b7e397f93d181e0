//! Rates as admins write them: `50/minute`, `5/s`.

use super::ruleset::Rate;

/// Parse `COUNT/UNIT` (units second, minute, hour, day; also s, m, h, d, sec, min) with the
/// given burst.
pub fn parse_rate(text: &str, burst: u32) -> Result<Rate, String> {
    let (count, unit) = text
        .split_once('/')
        .ok_or_else(|| format!("`{text}` is not a rate: write it as COUNT/UNIT, e.g. 50/minute"))?;
    let count: u64 = count
        .trim()
        .parse()
        .ok()
        .filter(|c| *c > 0)
        .ok_or_else(|| {
            format!("`{count}` in `{text}`: the count must be a whole number above 0")
        })?;
    let per_secs = match unit.trim() {
        "s" | "sec" | "second" => 1,
        "m" | "min" | "minute" => 60,
        "h" | "hour" => 3600,
        "d" | "day" => 86400,
        u => {
            return Err(format!(
                "`{u}` in `{text}`: the unit must be second, minute, hour or day"
            ))
        }
    };
    if burst == 0 {
        return Err("a burst must be at least 1".into());
    }
    Ok(Rate {
        count,
        per_secs,
        burst,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates() {
        assert_eq!(
            parse_rate("50/minute", 200),
            Ok(Rate {
                count: 50,
                per_secs: 60,
                burst: 200
            })
        );
        assert_eq!(parse_rate("5/s", 1).unwrap().per_secs, 1);
        assert!(parse_rate("0/s", 1).is_err());
        assert!(parse_rate("5/week", 1).is_err());
        assert!(parse_rate("five", 1).is_err());
        assert!(parse_rate("5/s", 0).is_err());
    }
}
