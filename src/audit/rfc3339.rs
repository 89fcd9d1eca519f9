//! RFC 3339 timestamps for audit times (Unix milliseconds, UTC), written and read without a
//! date crate: the proleptic Gregorian calendar conversions of Howard Hinnant's
//! `days_from_civil` / `civil_from_days` (<https://howardhinnant.github.io/date_algorithms.html>).
//!
//! The admin API takes times as integer milliseconds (exact, and what events carry); these
//! are for people: the CSV export's `time` column, and `jagspec logs`' table and `--since`.

/// Milliseconds in a day.
const DAY_MS: i64 = 86_400_000;

/// Days since 1970-01-01 of the civil date `y-m-d` (`m` 1..=12, `d` 1..=31).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date `(y, m, d)` of `days` since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// `ms` as RFC 3339 in UTC with milliseconds, `T` between date and time:
/// `2027-01-15T08:00:00.123Z`. Any `i64` is accepted (years beyond 9999 print more digits).
pub(crate) fn format_ms(ms: i64) -> String {
    format_with(ms, 'T')
}

/// As [`format_ms`], with a space between date and time (RFC 3339 §5.6 allows it): for
/// people reading a table.
pub(crate) fn format_ms_spaced(ms: i64) -> String {
    format_with(ms, ' ')
}

fn format_with(ms: i64, separator: char) -> String {
    let days = ms.div_euclid(DAY_MS);
    let in_day = ms.rem_euclid(DAY_MS);
    let (y, m, d) = civil_from_days(days);
    let (secs, millis) = (in_day / 1000, in_day % 1000);
    format!(
        "{y:04}-{m:02}-{d:02}{separator}{:02}:{:02}:{:02}.{millis:03}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Parses an RFC 3339 date-time (`2027-01-15T08:00:00Z`, `…T09:00:00.5+01:00`; `t`, `z`
/// and a space separator accepted; fractions beyond milliseconds truncated; a leap second
/// `:60` counts as the next minute's `:00`) or a full date (`2027-01-15`, midnight UTC)
/// into Unix milliseconds.
///
/// # Errors
///
/// What is wrong with the text, for a message.
pub(crate) fn parse_ms(text: &str) -> Result<i64, String> {
    let b = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| -> Result<i64, String> {
        let part = b
            .get(range.clone())
            .filter(|p| p.iter().all(u8::is_ascii_digit))
            .ok_or_else(|| format!("expected digits at position {} (RFC 3339)", range.start + 1))?;
        Ok(part.iter().fold(0, |n, c| n * 10 + i64::from(c - b'0')))
    };
    let expect = |i: usize, what: &[u8]| -> Result<(), String> {
        match b.get(i) {
            Some(c) if what.contains(c) => Ok(()),
            _ => Err(format!(
                "expected `{}` at position {} (RFC 3339)",
                what.iter().map(|&c| char::from(c)).collect::<String>(),
                i + 1
            )),
        }
    };
    let year = digits(0..4)?;
    expect(4, b"-")?;
    let month = digits(5..7)?;
    expect(7, b"-")?;
    let day = digits(8..10)?;
    if !(1..=12).contains(&month) {
        return Err(format!("month {month:02} is not 01..12"));
    }
    if !(1..=days_in_month(year, month)).contains(&day) {
        return Err(format!("{year:04}-{month:02} has no day {day:02}"));
    }
    let date_ms = days_from_civil(year, month, day) * DAY_MS;
    if b.len() == 10 {
        return Ok(date_ms);
    }
    expect(10, b"Tt ")?;
    let hour = digits(11..13)?;
    expect(13, b":")?;
    let minute = digits(14..16)?;
    expect(16, b":")?;
    let second = digits(17..19)?;
    if hour > 23 || minute > 59 || second > 60 {
        return Err(format!(
            "{hour:02}:{minute:02}:{second:02} is not a time of day"
        ));
    }
    let mut i = 19;
    let mut millis = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            if i - start < 3 {
                millis = millis * 10 + i64::from(b[i] - b'0');
            }
            i += 1;
        }
        if i == start {
            return Err(format!(
                "expected digits after `.` at position {} (RFC 3339)",
                start + 1
            ));
        }
        for _ in (i - start)..3 {
            millis *= 10;
        }
    }
    let offset_ms = match b.get(i) {
        Some(b'Z' | b'z') if b.len() == i + 1 => 0,
        Some(&sign @ (b'+' | b'-')) if b.len() == i + 6 => {
            let oh = digits(i + 1..i + 3)?;
            expect(i + 3, b":")?;
            let om = digits(i + 4..i + 6)?;
            if oh > 23 || om > 59 {
                return Err(format!("the offset {oh:02}:{om:02} is out of range"));
            }
            let offset = (oh * 60 + om) * 60_000;
            if sign == b'+' { offset } else { -offset }
        }
        _ => {
            return Err(format!(
                "expected `Z` or an offset `+HH:MM` at position {} and nothing after it (RFC 3339)",
                i + 1
            ));
        }
    };
    Ok(date_ms + ((hour * 60 + minute) * 60 + second) * 1000 + millis - offset_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants_format_and_parse_both_ways() {
        for (ms, text) in [
            (0, "1970-01-01T00:00:00.000Z"),
            (1_800_000_000_000, "2027-01-15T08:00:00.000Z"),
            (951_782_400_123, "2000-02-29T00:00:00.123Z"),
            (-1, "1969-12-31T23:59:59.999Z"),
            (253_402_300_799_999, "9999-12-31T23:59:59.999Z"),
        ] {
            assert_eq!(format_ms(ms), text);
            assert_eq!(parse_ms(text), Ok(ms), "{text}");
        }
        assert_eq!(format_ms_spaced(0), "1970-01-01 00:00:00.000Z");
    }

    #[test]
    fn offsets_fractions_dates_and_separators_are_read() {
        let base = 1_800_000_000_000;
        for (text, ms) in [
            ("2027-01-15T08:00:00Z", base),
            ("2027-01-15t08:00:00z", base),
            ("2027-01-15 08:00:00Z", base),
            ("2027-01-15T09:30:00+01:30", base),
            ("2027-01-15T03:00:00-05:00", base),
            ("2027-01-15T08:00:00.5Z", base + 500),
            ("2027-01-15T08:00:00.123456789Z", base + 123),
            ("2027-01-15T07:59:60Z", base),
            ("2027-01-15", base - 8 * 3_600_000),
        ] {
            assert_eq!(parse_ms(text), Ok(ms), "{text}");
        }
    }

    #[test]
    fn malformed_and_impossible_times_are_refused_without_a_panic() {
        for text in [
            "",
            "2027",
            "2027-13-01",
            "2027-02-29",
            "2027-01-15T",
            "2027-01-15T24:00:00Z",
            "2027-01-15T08:00:00",
            "2027-01-15T08:00:00.Z",
            "2027-01-15T08:00:00+0100",
            "2027-01-15T08:00:00Zjunk",
            "2027-01-15T08:00:00+24:00",
            "2027-01-15Ü08:00:00Z",
            "１２３４-01-01",
        ] {
            assert!(parse_ms(text).is_err(), "{text}");
        }
    }

    #[test]
    fn the_extremes_of_i64_format_without_overflow() {
        assert!(format_ms(i64::MAX).ends_with('Z'));
        assert!(format_ms(i64::MIN).ends_with('Z'));
    }
}
