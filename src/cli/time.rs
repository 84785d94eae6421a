//! Parsing the times `--to-datetime` accepts, without a date-time crate.

use super::errors::CliError;

/// Days from 1970-01-01 to the given civil date (proleptic Gregorian),
/// after Howard Hinnant's `days_from_civil`.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn number(text: &str, what: &str, range: std::ops::RangeInclusive<i64>) -> Result<i64, String> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{what} '{text}' is not a number"));
    }
    let n: i64 = text.parse().map_err(|e| format!("{what} '{text}': {e}"))?;
    if range.contains(&n) {
        Ok(n)
    } else {
        Err(format!("{what} {n} is out of range"))
    }
}

/// Milliseconds since the epoch, or `YYYY-MM-DDTHH:MM:SS[.fff][Z|±HH:MM]`
/// (also with a space for `T`; UTC when no zone is given).
pub fn parse_datetime(text: &str) -> Result<i64, CliError> {
    let wrap = |e: String| CliError::new(format!("--to-datetime '{text}': {e}"));
    let text = text.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse::<i64>().map_err(|e| wrap(e.to_string()));
    }
    let (date, rest) = text.split_at(
        text.find(['T', ' '])
            .ok_or_else(|| wrap("expected YYYY-MM-DDTHH:MM:SS".into()))?,
    );
    let rest = &rest[1..];
    let mut parts = date.split('-');
    let (Some(y), Some(mo), Some(d), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(wrap("the date must be YYYY-MM-DD".into()));
    };
    let (year, month, day) = (
        number(y, "year", 0..=9999).map_err(wrap)?,
        number(mo, "month", 1..=12).map_err(wrap)?,
        number(d, "day", 1..=31).map_err(wrap)?,
    );
    // The zone: Z, +HH:MM, -HH:MM, or nothing (UTC).
    let (clock, offset_minutes) = if let Some(clock) = rest.strip_suffix(['Z', 'z']) {
        (clock, 0)
    } else if let Some(pos) = rest.rfind(['+', '-']) {
        let (clock, zone) = rest.split_at(pos);
        let sign = if zone.starts_with('-') { -1 } else { 1 };
        let (zh, zm) = zone[1..].split_once(':').unwrap_or((&zone[1..], "0"));
        (
            clock,
            sign * (number(zh, "zone hours", 0..=23).map_err(wrap)? * 60
                + number(zm, "zone minutes", 0..=59).map_err(wrap)?),
        )
    } else {
        (rest, 0)
    };
    let (hms, millis) = match clock.split_once('.') {
        Some((hms, frac)) => {
            let digits: String = frac.chars().take(3).collect();
            let scale = 10i64.pow(3 - digits.len() as u32);
            (
                hms,
                number(&digits, "fraction", 0..=999).map_err(wrap)? * scale,
            )
        }
        None => (clock, 0),
    };
    let mut fields = hms.split(':');
    let (Some(h), Some(mi), s) = (fields.next(), fields.next(), fields.next()) else {
        return Err(wrap("the time must be HH:MM[:SS]".into()));
    };
    let hour = number(h, "hour", 0..=23).map_err(wrap)?;
    let minute = number(mi, "minute", 0..=59).map_err(wrap)?;
    let second = s
        .map(|s| number(s, "second", 0..=60))
        .transpose()
        .map_err(wrap)?
        .unwrap_or(0);
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
    Ok(seconds * 1000 + millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_epoch_and_iso_forms() {
        assert_eq!(parse_datetime("1700000000000").unwrap(), 1_700_000_000_000);
        assert_eq!(parse_datetime("1970-01-01T00:00:00Z").unwrap(), 0);
        assert_eq!(
            parse_datetime("2023-11-14T22:13:20Z").unwrap(),
            1_700_000_000_000
        );
        assert_eq!(
            parse_datetime("2023-11-14T22:13:20.5").unwrap(),
            1_700_000_000_500
        );
        assert_eq!(
            parse_datetime("2023-11-15T00:13:20+02:00").unwrap(),
            1_700_000_000_000
        );
        assert_eq!(parse_datetime("2000-03-01 00:00").unwrap(), 951_868_800_000);
        assert!(parse_datetime("2023-13-01T00:00:00").is_err());
        assert!(parse_datetime("yesterday").is_err());
        assert!(parse_datetime("2023-01-01T").is_err());
    }
}
