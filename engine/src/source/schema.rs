//! What a source reads out of each line: the key, the event time and the numeric fields
//! the aggregates need — and why a line that does not have them is malformed.

use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::fmt;

/// The unit of the event-time field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum TimeUnit {
    /// Integer milliseconds since the Unix epoch.
    #[default]
    Millis,
    /// Seconds since the Unix epoch (a decimal fraction is allowed).
    Seconds,
    /// An RFC 3339 date-time such as `2024-05-01T12:00:00.250Z`.
    Rfc3339,
}

impl fmt::Display for TimeUnit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TimeUnit::Millis => "ms",
            TimeUnit::Seconds => "s",
            TimeUnit::Rfc3339 => "rfc3339",
        })
    }
}

impl std::str::FromStr for TimeUnit {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "ms" | "millis" => Ok(TimeUnit::Millis),
            "s" | "secs" | "seconds" => Ok(TimeUnit::Seconds),
            "rfc3339" => Ok(TimeUnit::Rfc3339),
            other => Err(format!("unknown time unit `{other}`; use ms, s or rfc3339")),
        }
    }
}

impl TimeUnit {
    /// Parses an event time written in this unit into milliseconds.
    ///
    /// ```
    /// use highwater::source::TimeUnit;
    /// assert_eq!(TimeUnit::Millis.parse("1500"), Ok(1500));
    /// assert_eq!(TimeUnit::Seconds.parse("1.5"), Ok(1500));
    /// assert_eq!(TimeUnit::Rfc3339.parse("1970-01-01T00:00:01.5Z"), Ok(1500));
    /// assert!(TimeUnit::Millis.parse("soon").is_err());
    /// ```
    pub fn parse(self, text: &str) -> Result<i64, String> {
        let t = text.trim();
        match self {
            TimeUnit::Millis => t.parse::<i64>().map_err(|_| format!("`{t}` is not an integer number of milliseconds")),
            TimeUnit::Seconds => {
                if let Ok(s) = t.parse::<i64>() {
                    return s.checked_mul(1000).ok_or_else(|| format!("`{t}` seconds is out of range"));
                }
                match t.parse::<f64>() {
                    Ok(s) if s.is_finite() && (s * 1000.0).abs() < i64::MAX as f64 => Ok((s * 1000.0).round() as i64),
                    _ => Err(format!("`{t}` is not a number of seconds")),
                }
            }
            TimeUnit::Rfc3339 => chrono::DateTime::parse_from_rfc3339(t)
                .map(|d| d.timestamp_millis())
                .map_err(|e| format!("`{t}` is not an RFC 3339 date-time ({e})")),
        }
    }
}

/// A number read from a field: an integer while it can stay one, else a float.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Num {
    /// An integer.
    Int(i64),
    /// A finite float.
    Float(f64),
}

impl Num {
    /// Parses `42`, `-3` or `2.5`; rejects NaN and infinities.
    ///
    /// ```
    /// use highwater::source::Num;
    /// assert_eq!(Num::parse("42"), Some(Num::Int(42)));
    /// assert_eq!(Num::parse(" 2.5 "), Some(Num::Float(2.5)));
    /// assert_eq!(Num::parse("NaN"), None);
    /// ```
    pub fn parse(text: &str) -> Option<Num> {
        let t = text.trim();
        if let Ok(i) = t.parse::<i64>() {
            return Some(Num::Int(i));
        }
        t.parse::<f64>().ok().filter(|f| f.is_finite()).map(Num::Float)
    }
    /// The value as a float.
    pub fn as_f64(self) -> f64 {
        match self {
            Num::Int(i) => i as f64,
            Num::Float(f) => f,
        }
    }
    /// Numeric order (integers compared exactly).
    pub fn cmp_num(self, other: Num) -> Ordering {
        match (self, other) {
            (Num::Int(a), Num::Int(b)) => a.cmp(&b),
            (a, b) => a.as_f64().total_cmp(&b.as_f64()),
        }
    }
    /// The value as JSON.
    pub fn to_json(self) -> serde_json::Value {
        match self {
            Num::Int(i) => serde_json::Value::from(i),
            Num::Float(f) => serde_json::Value::from(f),
        }
    }
}

/// Addition that stays an integer unless a float is involved or it overflows.
impl std::ops::Add for Num {
    type Output = Num;
    fn add(self, other: Num) -> Num {
        match (self, other) {
            (Num::Int(a), Num::Int(b)) => a.checked_add(b).map_or(Num::Float(a as f64 + b as f64), Num::Int),
            (a, b) => Num::Float(a.as_f64() + b.as_f64()),
        }
    }
}

/// One good input record: key, event time in milliseconds, and the numeric fields of
/// [`Schema::value_fields`] in order.
pub type Record = (String, i64, Vec<Num>);

/// Which fields of a line make a [`Record`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schema {
    /// The event-time field.
    pub time_field: String,
    /// Its unit.
    pub time_unit: TimeUnit,
    /// The key fields; several make a composite key joined by [`Schema::KEY_SEPARATOR`].
    /// None: every record has the key `""`.
    pub key_fields: Vec<String>,
    /// Numeric fields to read (each must be present and numeric).
    pub value_fields: Vec<String>,
}

impl Schema {
    /// Joins the parts of a composite key.
    pub const KEY_SEPARATOR: &'static str = "|";

    /// Builds a record from a lookup of field name to text; `Err` is the dead-letter reason.
    pub(crate) fn extract<'a>(&self, mut get: impl FnMut(&str) -> Option<std::borrow::Cow<'a, str>>) -> Result<Record, String> {
        let time_text = get(&self.time_field).ok_or_else(|| format!("missing time field `{}`", self.time_field))?;
        let ts = self.time_unit.parse(&time_text).map_err(|e| format!("bad time field `{}`: {e}", self.time_field))?;
        let mut key = String::new();
        for (i, k) in self.key_fields.iter().enumerate() {
            let v = get(k).ok_or_else(|| format!("missing key field `{k}`"))?;
            if i > 0 {
                key.push_str(Self::KEY_SEPARATOR);
            }
            key.push_str(&v);
        }
        let mut values = Vec::with_capacity(self.value_fields.len());
        for f in &self.value_fields {
            let v = get(f).ok_or_else(|| format!("missing field `{f}`"))?;
            values.push(Num::parse(&v).ok_or_else(|| format!("field `{f}` is not a number: `{}`", v.trim()))?);
        }
        Ok((key, ts, values))
    }

    /// Every field this schema reads, each once.
    pub fn fields(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for f in std::iter::once(&self.time_field).chain(&self.key_fields).chain(&self.value_fields) {
            if !out.contains(&f.as_str()) {
                out.push(f);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    #[test]
    fn extract_reports_what_is_missing() {
        let s = Schema {
            time_field: "t".into(),
            time_unit: TimeUnit::Millis,
            key_fields: vec!["a".into(), "b".into()],
            value_fields: vec!["p".into()],
        };
        let row = |t: &'static str, p: &'static str| {
            move |f: &str| -> Option<Cow<'static, str>> {
                match f {
                    "t" => Some(Cow::Borrowed(t)),
                    "a" => Some(Cow::Borrowed("x")),
                    "b" => Some(Cow::Borrowed("y")),
                    "p" => Some(Cow::Borrowed(p)),
                    _ => None,
                }
            }
        };
        assert_eq!(s.extract(row("5", "2.5")), Ok(("x|y".to_string(), 5, vec![Num::Float(2.5)])));
        assert!(s.extract(row("five", "1")).unwrap_err().contains("bad time field `t`"));
        assert!(s.extract(row("5", "cheap")).unwrap_err().contains("field `p` is not a number"));
        assert_eq!(Num::Int(i64::MAX) + Num::Int(1), Num::Float(i64::MAX as f64 + 1.0));
    }
}
