//! Durations in the trigger and window grammar: bare integers are ticks; the CLI also
//! accepts unit suffixes (`ms`, `s`, `m`, `h`, `d`), converted to milliseconds.

/// Parses `10`, `-3`, `250ms`, `10s`, `5m`, `2h` or `1d` into ticks (milliseconds when a
/// unit is given).
///
/// ```
/// use highwater_operators::duration::parse_ticks;
/// assert_eq!(parse_ticks("10"), Ok(10));
/// assert_eq!(parse_ticks("10s"), Ok(10_000));
/// assert_eq!(parse_ticks("1m"), Ok(60_000));
/// assert!(parse_ticks("ten").is_err());
/// ```
pub fn parse_ticks(text: &str) -> Result<i64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '-' || c == '+')).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: i64 = num.parse().map_err(|_| format!("`{t}` is not a number of ticks (e.g. 10, 10s, 250ms)"))?;
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
