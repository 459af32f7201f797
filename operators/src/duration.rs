//! Durations. Event time and processing time are kept in whole milliseconds (`i64`); the
//! DSL takes [`std::time::Duration`]s and converts them with [`millis`]. In the trigger and
//! window grammar bare integers are milliseconds (the conformance kit calls them ticks: the
//! unit does not matter there), and unit suffixes (`ms`, `s`, `m`, `h`, `d`) are accepted.

use std::time::Duration;

/// A duration in whole milliseconds, or `None` when it has a fraction of a millisecond or
/// does not fit an `i64` (event time is kept in milliseconds).
///
/// ```
/// use std::time::Duration;
/// use highwater::model::duration::millis;
/// assert_eq!(millis(Duration::from_secs(10)), Some(10_000));
/// assert_eq!(millis(Duration::from_micros(1_500)), None);
/// ```
pub fn millis(d: Duration) -> Option<i64> {
    if d.subsec_millis() * 1_000_000 != d.subsec_nanos() {
        return None;
    }
    i64::try_from(d.as_millis()).ok()
}

/// A duration in milliseconds, rounded up to the next whole millisecond and capped at
/// `i64::MAX` (for delays, where waiting a fraction longer is harmless).
///
/// ```
/// use std::time::Duration;
/// use highwater::model::duration::millis_rounded_up;
/// assert_eq!(millis_rounded_up(Duration::from_micros(1_500)), 2);
/// assert_eq!(millis_rounded_up(Duration::MAX), i64::MAX);
/// ```
pub fn millis_rounded_up(d: Duration) -> i64 {
    let ms = d.as_millis() + u128::from(d.subsec_millis() * 1_000_000 != d.subsec_nanos());
    i64::try_from(ms).unwrap_or(i64::MAX)
}

/// Prints milliseconds the way the grammar reads them: `10s`, `250ms`, `1h`.
///
/// ```
/// use highwater::model::duration::format_millis;
/// assert_eq!(format_millis(10_000), "10s");
/// assert_eq!(format_millis(1_500), "1500ms");
/// assert_eq!(format_millis(7_200_000), "2h");
/// ```
pub fn format_millis(ms: i64) -> String {
    for (unit, size) in [("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000)] {
        if ms != 0 && ms % size == 0 {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

/// Parses `10`, `-3`, `250ms`, `10s`, `5m`, `2h` or `1d` into milliseconds (a bare number
/// is milliseconds; the conformance kit's unit-less ticks read the same way).
///
/// ```
/// use highwater::model::duration::parse_ticks;
/// assert_eq!(parse_ticks("10"), Ok(10));
/// assert_eq!(parse_ticks("10s"), Ok(10_000));
/// assert_eq!(parse_ticks("1m"), Ok(60_000));
/// assert!(parse_ticks("ten").is_err());
/// ```
pub fn parse_ticks(text: &str) -> Result<i64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '-' || c == '+')).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: i64 = num.parse().map_err(|_| format!("`{t}` is not a duration (e.g. 10 for 10 ms, 10s, 250ms)"))?;
    let mult = match unit {
        "" | "ms" => 1,
        "s" => 1_000,
        "m" | "min" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        other => return Err(format!("unknown time unit `{other}` in `{t}`; use ms, s, m, h or d")),
    };
    n.checked_mul(mult).ok_or_else(|| format!("`{t}` is out of range"))
}
