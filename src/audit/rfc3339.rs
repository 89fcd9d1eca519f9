//! RFC 3339 timestamps for audit times (Unix milliseconds, UTC), for people: the CSV
//! export's `time` column, and `jagspec logs`' table and `--since`. The calendar and the
//! RFC 3339 grammar are the `time` crate's; what is ours is the fixed millisecond width
//! jagspec writes and the full date it also reads.
//!
//! The admin API takes times as integer milliseconds (exact, and what events carry).

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// `ms` as RFC 3339 in UTC with milliseconds, `T` between date and time:
/// `2027-01-15T08:00:00.123Z`. RFC 3339 writes years 0000 to 9999 only; a time outside
/// them is written as its milliseconds, said so, rather than in a form nothing reads.
pub(crate) fn format_ms(ms: i64) -> String {
    format_with(ms, 'T')
}

/// As [`format_ms`], with a space between date and time (RFC 3339 §5.6 allows it): for
/// people reading a table.
pub(crate) fn format_ms_spaced(ms: i64) -> String {
    format_with(ms, ' ')
}

fn format_with(ms: i64, separator: char) -> String {
    let utc = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .filter(|t| (0..=9999).contains(&t.year()));
    match utc {
        Some(t) => format!(
            "{:04}-{:02}-{:02}{separator}{:02}:{:02}:{:02}.{:03}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            t.millisecond()
        ),
        None => format!("{ms} ms since 1970 (outside RFC 3339's years 0000 to 9999)"),
    }
}

/// Parses an RFC 3339 date-time (`2027-01-15T08:00:00Z`, `…T09:00:00.5+01:00`; `T`, `t`
/// or a space between date and time; fractions beyond milliseconds truncated; a leap
/// second only where one can occur, at the end of a UTC day, read as its last
/// millisecond) or a full date (`2027-01-15`, midnight UTC) into Unix milliseconds.
///
/// # Errors
///
/// What is wrong with the text, for a message.
pub(crate) fn parse_ms(text: &str) -> Result<i64, String> {
    let full;
    let text = if text.len() == 10 {
        // A full date: midnight UTC.
        full = format!("{text}T00:00:00Z");
        &full
    } else {
        // `time` takes any byte between date and time; RFC 3339 §5.6 names `T` and
        // (for readability) a space.
        match text.as_bytes().get(10) {
            Some(b'T' | b't' | b' ') => text,
            _ => return Err("expected `T` or a space at position 11 (RFC 3339)".into()),
        }
    };
    let parsed = OffsetDateTime::parse(text, &Rfc3339).map_err(|e| e.to_string())?;
    let ms = parsed.unix_timestamp_nanos().div_euclid(1_000_000);
    i64::try_from(ms).map_err(|_| "out of range".to_owned())
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
            ("2016-12-31T23:59:60Z", 1_483_228_799_999),
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
            "2027-01-15T07:59:60Z",
            "2027-01-15x08:00:00Z",
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
    fn a_time_outside_rfc_3339s_years_is_written_as_milliseconds_without_a_panic() {
        assert_eq!(
            format_ms(i64::MAX),
            "9223372036854775807 ms since 1970 (outside RFC 3339's years 0000 to 9999)"
        );
        assert!(format_ms(i64::MIN).starts_with("-9223372036854775808 ms since 1970"));
        assert!(format_ms(253_402_300_800_000).contains("outside"));
        assert_eq!(format_ms(-62_167_219_200_000), "0000-01-01T00:00:00.000Z");
    }
}
