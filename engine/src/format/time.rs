//! Event times from text: RFC 3339 date-times, seconds, milliseconds and `strftime`-style
//! formats, all into milliseconds since the Unix epoch.
//!
//! One implementation for every place that reads a time: `highwater run --time-unit`
//! ([`super::TimeUnit`]) parses with these functions, and pipelines call them from
//! [`crate::pipeline::Files::try_event_time`] or
//! [`crate::pipeline::Collection::try_with_event_time`], where an `Err` makes the record a
//! dead letter whose reason is the error's message.
//!
//! ```
//! use highwater::format::time;
//! assert_eq!(time::rfc3339("2024-01-01T00:00:01.250Z"), Ok(1_704_067_201_250));
//! assert_eq!(time::seconds("1704067201.25"), Ok(1_704_067_201_250));
//! assert_eq!(time::millis("1704067201250"), Ok(1_704_067_201_250));
//! assert_eq!(time::formatted("2024-01-01 00:00:01", "%Y-%m-%d %H:%M:%S"), Ok(1_704_067_201_000));
//! let err = time::rfc3339("yesterday").unwrap_err();
//! assert_eq!(err.to_string(), "`yesterday` is not an RFC 3339 date-time such as 2024-05-01T12:00:00.250Z (premature end of input)");
//! ```

use std::fmt;

/// A time that does not parse: the text, and the form that was expected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not {expected}{}", .detail.as_ref().map(|d| format!(" ({d})")).unwrap_or_default())]
#[non_exhaustive]
pub struct TimeError {
    /// The text that was read (trimmed).
    pub value: String,
    /// The form it should have had, e.g. `an integer number of milliseconds`.
    pub expected: String,
    /// What the parser said, when it said more.
    pub detail: Option<String>,
}

impl TimeError {
    fn new(value: &str, expected: impl fmt::Display) -> Self {
        TimeError { value: value.to_string(), expected: expected.to_string(), detail: None }
    }
    fn detail(mut self, detail: impl fmt::Display) -> Self {
        self.detail = Some(detail.to_string());
        self
    }
}

/// An RFC 3339 date-time (`2024-05-01T12:00:00.250Z`, `2024-05-01T14:00:00+02:00`) in
/// milliseconds since the epoch; sub-millisecond digits are truncated.
///
/// ```
/// assert_eq!(highwater::format::time::rfc3339("1970-01-01T00:00:01.5+00:00"), Ok(1500));
/// ```
pub fn rfc3339(text: &str) -> Result<i64, TimeError> {
    let t = text.trim();
    chrono::DateTime::parse_from_rfc3339(t)
        .map(|d| d.timestamp_millis())
        .map_err(|e| TimeError::new(t, "an RFC 3339 date-time such as 2024-05-01T12:00:00.250Z").detail(e))
}

/// Seconds since the epoch, an integer or a decimal fraction (`1714564800`,
/// `1714564800.25`), in milliseconds (fractions rounded to the nearest millisecond).
///
/// ```
/// assert_eq!(highwater::format::time::seconds("1.5"), Ok(1500));
/// assert_eq!(highwater::format::time::seconds("-2"), Ok(-2000));
/// assert!(highwater::format::time::seconds("1e400").is_err());
/// ```
pub fn seconds(text: &str) -> Result<i64, TimeError> {
    let t = text.trim();
    const EXPECTED: &str = "a number of seconds since the epoch such as 1714564800 or 1714564800.25";
    if let Ok(s) = t.parse::<i64>() {
        return s.checked_mul(1000).ok_or_else(|| TimeError::new(t, EXPECTED).detail("out of range"));
    }
    match t.parse::<f64>() {
        Ok(s) if s.is_finite() && (s * 1000.0).abs() < i64::MAX as f64 => Ok((s * 1000.0).round() as i64),
        Ok(_) => Err(TimeError::new(t, EXPECTED).detail("out of range")),
        Err(_) => Err(TimeError::new(t, EXPECTED)),
    }
}

/// Integer milliseconds since the epoch (`1714564800250`).
///
/// ```
/// assert_eq!(highwater::format::time::millis(" 1500 "), Ok(1500));
/// assert!(highwater::format::time::millis("1.5").is_err());
/// ```
pub fn millis(text: &str) -> Result<i64, TimeError> {
    let t = text.trim();
    t.parse::<i64>().map_err(|_| TimeError::new(t, "an integer number of milliseconds since the epoch"))
}

/// A date-time in a `strftime`-style `format` (chrono's specifiers: `%Y-%m-%d %H:%M:%S%.f`,
/// `%d/%b/%Y:%H:%M:%S %z`, …), in milliseconds since the epoch. A format with an offset
/// (`%z`, `%:z`) uses it; one without is read as UTC.
///
/// ```
/// use highwater::format::time::formatted;
/// assert_eq!(formatted("1970-01-01 00:00:01.5", "%Y-%m-%d %H:%M:%S%.f"), Ok(1500));
/// assert_eq!(formatted("01/Jan/1970:02:00:00 +0200", "%d/%b/%Y:%H:%M:%S %z"), Ok(0));
/// let err = formatted("1970-01-01", "%Y-%m-%d %H:%M:%S").unwrap_err().to_string();
/// assert!(err.starts_with("`1970-01-01` is not a date-time in the form `%Y-%m-%d %H:%M:%S`"), "{err}");
/// ```
pub fn formatted(text: &str, format: &str) -> Result<i64, TimeError> {
    let t = text.trim();
    let expected = || TimeError::new(t, format_args!("a date-time in the form `{format}`"));
    match chrono::DateTime::parse_from_str(t, format) {
        Ok(d) => Ok(d.timestamp_millis()),
        // Without an offset in the format: a naive date-time, read as UTC.
        Err(e) if e.kind() == chrono::format::ParseErrorKind::NotEnough => {
            chrono::NaiveDateTime::parse_from_str(t, format)
                .map(|d| d.and_utc().timestamp_millis())
                .map_err(|e| expected().detail(e))
        }
        Err(e) => Err(expected().detail(e)),
    }
}
