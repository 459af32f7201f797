//! What a source reads out of each line: the key, the event time and the numeric fields
//! the aggregates need — and why a line that does not have them is malformed.

use super::decoder::{CsvDecoder, CsvFields, Decoder};
use serde::{Deserialize, Serialize};
use smallvec::SmallVec;
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
    /// Parses an event time written in this unit into milliseconds, with the one
    /// implementation of each unit ([`super::time`]).
    ///
    /// ```
    /// use highwater::format::TimeUnit;
    /// assert_eq!(TimeUnit::Millis.parse("1500"), Ok(1500));
    /// assert_eq!(TimeUnit::Seconds.parse("1.5"), Ok(1500));
    /// assert_eq!(TimeUnit::Rfc3339.parse("1970-01-01T00:00:01.5Z"), Ok(1500));
    /// assert!(TimeUnit::Millis.parse("soon").is_err());
    /// ```
    pub fn parse(self, text: &str) -> Result<i64, super::time::TimeError> {
        match self {
            TimeUnit::Millis => super::time::millis(text),
            TimeUnit::Seconds => super::time::seconds(text),
            TimeUnit::Rfc3339 => super::time::rfc3339(text),
        }
    }
}

/// A number read from a field: an integer while it can stay one, else a float.
///
/// In JSON (and any human-readable format) it is a plain number (`12`, `2.5`); in the
/// binary exchange between processes, a tagged value.
///
/// ```
/// use highwater::format::Num;
/// assert_eq!(serde_json::to_string(&[Num::Int(12), Num::Float(2.5)]).unwrap(), "[12,2.5]");
/// assert_eq!(serde_json::from_str::<Num>("12").unwrap(), Num::Int(12));
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Num {
    /// An integer.
    Int(i64),
    /// A finite float.
    Float(f64),
}

/// [`Num`] as the binary exchange carries it.
#[derive(Serialize, Deserialize)]
enum NumRepr {
    Int(i64),
    Float(f64),
}

/// [`Num`] as JSON carries it.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum NumJson {
    Int(i64),
    Float(f64),
}

impl Serialize for Num {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match (*self, s.is_human_readable()) {
            (Num::Int(i), true) => NumJson::Int(i).serialize(s),
            (Num::Float(f), true) => NumJson::Float(f).serialize(s),
            (Num::Int(i), false) => NumRepr::Int(i).serialize(s),
            (Num::Float(f), false) => NumRepr::Float(f).serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Num {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(if d.is_human_readable() {
            match NumJson::deserialize(d)? {
                NumJson::Int(i) => Num::Int(i),
                NumJson::Float(f) => Num::Float(f),
            }
        } else {
            match NumRepr::deserialize(d)? {
                NumRepr::Int(i) => Num::Int(i),
                NumRepr::Float(f) => Num::Float(f),
            }
        })
    }
}

impl Num {
    /// Parses `42`, `-3` or `2.5`; rejects NaN and infinities.
    ///
    /// ```
    /// use highwater::format::Num;
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

/// The numeric fields of a record, inline for up to two (no allocation per record); a
/// `SmallVec` (through `Deref`) that clones with one copy.
///
/// ```
/// use highwater::format::{Num, Values};
/// let mut v = Values::new();
/// v.push(Num::Int(12));
/// let w = v.clone();
/// assert_eq!((w.len(), w[0]), (1, Num::Int(12)));
/// assert_eq!(Values::from_iter([Num::Int(12)]), w);
/// ```
#[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Values(pub SmallVec<[Num; 2]>);

impl Values {
    /// No fields.
    pub fn new() -> Self {
        Values(SmallVec::new())
    }
}

impl Clone for Values {
    /// One copy of the numbers (a derived clone went number by number through an
    /// iterator: a window assignment clones the values once per window but the last).
    /// Inline (up to two numbers) they are copied as one array, not by a call to
    /// `memcpy`.
    #[inline]
    fn clone(&self) -> Self {
        const Z: Num = Num::Int(0);
        Values(match *self.0.as_slice() {
            [] => SmallVec::new(),
            [a] => SmallVec::from_buf_and_len([a, Z], 1),
            [a, b] => SmallVec::from_buf([a, b]),
            ref more => SmallVec::from_slice(more),
        })
    }
}

impl FromIterator<Num> for Values {
    fn from_iter<I: IntoIterator<Item = Num>>(iter: I) -> Self {
        Values(iter.into_iter().collect())
    }
}

impl std::ops::Deref for Values {
    type Target = SmallVec<[Num; 2]>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for Values {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

/// One good input record: key, event time in milliseconds, and the numeric fields of
/// [`Schema::value_fields`] in order.
pub type Record = (RunKey, i64, Values);

/// A record's key: the text of its key field(s), held as an integer when it is the
/// canonical decimal form of one (`"1001"`, `"-7"`; not `"007"`, `"+1"` or `" 1"`), so that
/// the common numeric key costs no allocation and compares and hashes as a number.
///
/// It behaves exactly as the text would: equal when the texts are equal, ordered as the
/// texts are (byte order: `"1001" < "999"`), shown as the text.
///
/// ```
/// use highwater::format::RunKey;
/// assert_eq!(RunKey::from_text("1001"), RunKey::Int(1001));
/// assert_eq!(RunKey::from_text("007"), RunKey::Str("007".into()));
/// assert!(RunKey::from_text("1001") < RunKey::from_text("999"));
/// assert!(RunKey::from_text("12") < RunKey::from_text("12a"));
/// assert_eq!(RunKey::Int(-5).to_string(), "-5");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum RunKey {
    /// A key whose text is the canonical decimal form of this integer.
    Int(i64),
    /// Any other key text.
    Str(String),
}

impl Default for RunKey {
    fn default() -> Self {
        RunKey::Str(String::new())
    }
}

/// The canonical decimal digits of `v` in `buf`, returned as a slice of it.
fn decimal(v: i64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    let mut n = v.unsigned_abs();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if v < 0 {
        i -= 1;
        buf[i] = b'-';
    }
    &buf[i..]
}

/// `b` as an integer if it is the canonical decimal form of one.
fn canonical_int(b: &[u8]) -> Option<i64> {
    let (neg, digits) = match b.split_first()? {
        (b'-', rest) => (true, rest),
        _ => (false, b),
    };
    if digits.is_empty() || digits.len() > 19 || (digits[0] == b'0' && (digits.len() > 1 || neg)) {
        return None;
    }
    if digits.len() < 19 {
        // Eighteen digits cannot overflow: no checked arithmetic per digit.
        return decimal_digits(digits).map(|v| if neg { -v } else { v });
    }
    let mut v: i64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add((c - b'0') as i64)?;
    }
    Some(if neg { -v } else { v })
}

/// The value of at most 18 decimal digits; `None` if a byte is not a digit. Eight and four
/// digits at a time ([`eight_digits`], [`four_digits`]): a timestamp in milliseconds has 13.
#[inline]
fn decimal_digits(digits: &[u8]) -> Option<i64> {
    debug_assert!(digits.len() <= 18);
    let mut v: u64 = 0;
    let mut rest = digits;
    while let Some((head, tail)) = rest.split_first_chunk::<8>() {
        v = v * 100_000_000 + eight_digits(u64::from_le_bytes(*head))?;
        rest = tail;
    }
    if let Some((head, tail)) = rest.split_first_chunk::<4>() {
        v = v * 10_000 + four_digits(u32::from_le_bytes(*head))? as u64;
        rest = tail;
    }
    for &c in rest {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v * 10 + d as u64;
    }
    Some(v as i64)
}

/// Eight ASCII digits read as a little-endian word (the first digit in the low byte), or
/// `None` if a byte is not a digit: the high nibble of every byte is 3, and adding 6 keeps
/// it 3 (no byte above `9`; with every high nibble 3 the additions cannot carry across).
#[inline]
fn eight_digits(w: u64) -> Option<u64> {
    const HIGH: u64 = 0xF0F0_F0F0_F0F0_F0F0;
    const ZEROS: u64 = 0x3030_3030_3030_3030;
    if w & HIGH != ZEROS || w.wrapping_add(0x0606_0606_0606_0606) & HIGH != ZEROS {
        return None;
    }
    let v = w - ZEROS;
    // Pairs of digits, then fours, then all eight.
    let v = (v * 10 + (v >> 8)) & 0x00FF_00FF_00FF_00FF;
    let v = (v * 100 + (v >> 16)) & 0x0000_FFFF_0000_FFFF;
    Some((v * 10_000 + (v >> 32)) & 0xFFFF_FFFF)
}

/// [`eight_digits`] for four.
#[inline]
fn four_digits(w: u32) -> Option<u32> {
    const HIGH: u32 = 0xF0F0_F0F0;
    const ZEROS: u32 = 0x3030_3030;
    if w & HIGH != ZEROS || w.wrapping_add(0x0606_0606) & HIGH != ZEROS {
        return None;
    }
    let v = w - ZEROS;
    let v = (v * 10 + (v >> 8)) & 0x00FF_00FF;
    Some((v * 100 + (v >> 16)) & 0xFFFF)
}

impl RunKey {
    /// The key of this text.
    pub fn from_text(text: &str) -> RunKey {
        Self::from_bytes_str(text.as_bytes(), text)
    }
    fn from_bytes_str(bytes: &[u8], text: &str) -> RunKey {
        match canonical_int(bytes) {
            Some(i) => RunKey::Int(i),
            None => RunKey::Str(text.to_string()),
        }
    }
    /// Calls `f` with the key's text as bytes (no allocation).
    pub fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        match self {
            RunKey::Int(i) => f(decimal(*i, &mut [0; 20])),
            RunKey::Str(s) => f(s.as_bytes()),
        }
    }
    /// Appends the key as typed JSON to `out`: a number when it is the canonical form of
    /// an integer (`1001`), else a string (`"007"`, `"a|b"`).
    ///
    /// ```
    /// use highwater::format::RunKey;
    /// let mut out = String::new();
    /// RunKey::from_text("1001").write_json(&mut out);
    /// RunKey::from_text("007").write_json(&mut out);
    /// assert_eq!(out, r#"1001"007""#);
    /// ```
    pub fn write_json(&self, out: &mut String) {
        match self {
            // Digits and '-' only: valid UTF-8 and nothing to escape.
            RunKey::Int(i) => out.push_str(std::str::from_utf8(decimal(*i, &mut [0; 20])).unwrap_or_default()),
            RunKey::Str(s) => crate::row::write_str(out, s),
        }
    }
}

/// In JSON (and any human-readable format) a key is typed as [`RunKey::write_json`] writes
/// it (`1001`, `"007"`); in the binary exchange between processes, its text.
impl Serialize for RunKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            RunKey::Int(i) if s.is_human_readable() => s.serialize_i64(*i),
            RunKey::Int(i) => s.serialize_str(std::str::from_utf8(decimal(*i, &mut [0; 20])).unwrap_or_default()),
            RunKey::Str(t) => s.serialize_str(t),
        }
    }
}

/// [`RunKey`] as JSON carries it: a number or a text.
#[derive(Deserialize)]
#[serde(untagged)]
enum RunKeyJson<'a> {
    Int(i64),
    #[serde(borrow)]
    Text(std::borrow::Cow<'a, str>),
}

impl<'de> Deserialize<'de> for RunKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            return Ok(match RunKeyJson::deserialize(d)? {
                RunKeyJson::Int(i) => RunKey::Int(i),
                RunKeyJson::Text(t) => RunKey::from_text(&t),
            });
        }
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Ok(RunKey::from_text(&text))
    }
}

impl fmt::Display for RunKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunKey::Int(i) => write!(f, "{i}"),
            RunKey::Str(s) => f.write_str(s),
        }
    }
}

impl Ord for RunKey {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            // Non-negative numbers of the same length order as their texts.
            (RunKey::Int(a), RunKey::Int(b)) if *a >= 0 && *b >= 0 && a.checked_ilog10() == b.checked_ilog10() => {
                a.cmp(b)
            }
            (RunKey::Str(a), RunKey::Str(b)) => a.as_bytes().cmp(b.as_bytes()),
            _ => self.with_bytes(|a| other.with_bytes(|b| a.cmp(b))),
        }
    }
}

impl PartialOrd for RunKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

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

/// ASCII whitespace trimmed from both ends (what `str::trim` removes, for ASCII text).
fn trim_ascii(b: &[u8]) -> &[u8] {
    b.trim_ascii()
}

/// A plain decimal integer (optional sign) from bytes; `None` if it is anything else.
fn parse_i64_bytes(b: &[u8]) -> Option<i64> {
    let (neg, digits) = match b.split_first()? {
        (b'-', rest) => (true, rest),
        (b'+', rest) => (false, rest),
        _ => (false, b),
    };
    if digits.is_empty() || digits.len() > 18 {
        return None;
    }
    decimal_digits(digits).map(|v| if neg { -v } else { v })
}

impl Schema {
    /// Joins the parts of a composite key.
    pub const KEY_SEPARATOR: &'static str = "|";

    /// Builds a record from a lookup of field name to text; `Err` is the dead-letter reason.
    pub(crate) fn extract<'a>(
        &self,
        mut get: impl FnMut(&str) -> Option<std::borrow::Cow<'a, str>>,
    ) -> Result<Record, String> {
        let time_text = get(&self.time_field).ok_or_else(|| format!("missing time field `{}`", self.time_field))?;
        let ts = self.time_unit.parse(&time_text).map_err(|e| format!("bad time field `{}`: {e}", self.time_field))?;
        let key = if let [k] = self.key_fields.as_slice() {
            let v = get(k).ok_or_else(|| format!("missing key field `{k}`"))?;
            RunKey::from_text(&v)
        } else {
            let mut key = String::new();
            for (i, k) in self.key_fields.iter().enumerate() {
                let v = get(k).ok_or_else(|| format!("missing key field `{k}`"))?;
                if i > 0 {
                    key.push_str(Self::KEY_SEPARATOR);
                }
                key.push_str(&v);
            }
            RunKey::Str(key)
        };
        let mut values = Values::new();
        for f in &self.value_fields {
            let v = get(f).ok_or_else(|| format!("missing field `{f}`"))?;
            values.push(Num::parse(&v).ok_or_else(|| format!("field `{f}` is not a number: `{}`", v.trim()))?);
        }
        Ok((key, ts, values))
    }

    /// The same as [`Schema::extract`] over the fields of a CSV line that is valid UTF-8,
    /// with each field of the schema at a known index of `fields`: integers are parsed
    /// straight from the bytes, and the slower text path runs only to explain an error
    /// or for other forms.
    #[inline(always)]
    pub(crate) fn extract_columns(&self, columns: &Columns, fields: CsvFields<'_>) -> Result<Record, String> {
        let (key, ts) = self.key_and_time(columns, fields)?;
        let mut values = Values::new();
        self.values_into(columns, fields, &mut values)?;
        Ok((key, ts, values))
    }

    /// The key and event time of [`Schema::extract_columns`] (the time checked first).
    #[inline(always)]
    fn key_and_time(&self, columns: &Columns, fields: CsvFields<'_>) -> Result<(RunKey, i64), String> {
        let field = |i: usize| -> Option<&[u8]> { fields.get(i) };
        let text = |i: usize| -> Option<&str> { field(i).and_then(|b| std::str::from_utf8(b).ok()) };
        let tb = field(columns.time).ok_or_else(|| format!("missing time field `{}`", self.time_field))?;
        let fast_time = match self.time_unit {
            TimeUnit::Millis => parse_i64_bytes(trim_ascii(tb)),
            _ => None,
        };
        let ts = match fast_time {
            Some(t) => t,
            None => {
                let t = text(columns.time).ok_or_else(|| format!("missing time field `{}`", self.time_field))?;
                self.time_unit.parse(t).map_err(|e| format!("bad time field `{}`: {e}", self.time_field))?
            }
        };
        let key = match columns.keys.as_slice() {
            [] => RunKey::default(),
            [k] => {
                let b = field(*k).ok_or_else(|| format!("missing key field `{}`", self.key_fields[0]))?;
                match canonical_int(b) {
                    Some(i) => RunKey::Int(i),
                    None => RunKey::Str(
                        text(*k).ok_or_else(|| format!("missing key field `{}`", self.key_fields[0]))?.to_string(),
                    ),
                }
            }
            many => {
                let mut key = String::new();
                for (i, (k, name)) in many.iter().zip(&self.key_fields).enumerate() {
                    let v = text(*k).ok_or_else(|| format!("missing key field `{name}`"))?;
                    if i > 0 {
                        key.push_str(Self::KEY_SEPARATOR);
                    }
                    key.push_str(v);
                }
                RunKey::Str(key)
            }
        };
        Ok((key, ts))
    }

    /// The numbers of [`Schema::extract_columns`], pushed onto `values`.
    #[inline(always)]
    fn values_into(&self, columns: &Columns, fields: CsvFields<'_>, values: &mut Values) -> Result<(), String> {
        let field = |i: usize| -> Option<&[u8]> { fields.get(i) };
        let text = |i: usize| -> Option<&str> { field(i).and_then(|b| std::str::from_utf8(b).ok()) };
        for (&c, f) in columns.values.iter().zip(&self.value_fields) {
            let b = field(c).ok_or_else(|| format!("missing field `{f}`"))?;
            let n = match parse_i64_bytes(trim_ascii(b)) {
                Some(i) => Num::Int(i),
                None => {
                    let v = text(c).ok_or_else(|| format!("missing field `{f}`"))?;
                    Num::parse(v).ok_or_else(|| format!("field `{f}` is not a number: `{}`", v.trim()))?
                }
            };
            values.push(n);
        }
        Ok(())
    }

    /// The column of each field this schema reads, from a header's `names`; `Err` names the
    /// first field the header lacks.
    pub(crate) fn columns(&self, names: &[String]) -> Result<Columns, String> {
        let find = |f: &String| names.iter().position(|n| n == f).ok_or_else(|| f.clone());
        // The same first-missing field as [`Schema::fields`] order reports.
        for f in self.fields() {
            if !names.iter().any(|n| n == f) {
                return Err(f.to_string());
            }
        }
        Ok(Columns {
            time: find(&self.time_field)?,
            keys: self.key_fields.iter().map(find).collect::<Result<_, _>>()?,
            values: self.value_fields.iter().map(find).collect::<Result<_, _>>()?,
        })
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

/// The column index of each field of a [`Schema`] in one file, resolved once from its header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Columns {
    /// The event-time column.
    pub(crate) time: usize,
    /// The key columns, in key order.
    pub(crate) keys: Vec<usize>,
    /// The value columns, in [`Schema::value_fields`] order.
    pub(crate) values: Vec<usize>,
}

/// A [`Schema`] bound to one CSV header.
struct SchemaCsv {
    schema: Schema,
    columns: Columns,
    width: usize,
}

impl CsvDecoder<(RunKey, Values)> for SchemaCsv {
    fn decode(&self, fields: CsvFields<'_>) -> Result<(i64, (RunKey, Values)), String> {
        if fields.len() != self.width {
            return Err(format!("expected {} fields (as in the header), found {}", self.width, fields.len()));
        }
        let (k, t, v) = self.schema.extract_columns(&self.columns, fields)?;
        Ok((t, (k, v)))
    }
    #[inline]
    fn decode_into(&self, fields: CsvFields<'_>, out: &mut Vec<(i64, (RunKey, Values))>) -> Result<(), String> {
        if fields.len() != self.width {
            return Err(format!("expected {} fields (as in the header), found {}", self.width, fields.len()));
        }
        let (k, t) = self.schema.key_and_time(&self.columns, fields)?;
        // The numbers are parsed into the record in the batch: a record built aside and
        // moved in was read back right after it was written, a store-forwarding stall per
        // record (a fifth of the decoding time).
        out.push((t, (k, Values::new())));
        let last = out.len() - 1;
        if let Err(e) = self.schema.values_into(&self.columns, fields, &mut out[last].1 .1) {
            out.pop();
            return Err(e);
        }
        Ok(())
    }
}

/// A schema decodes lines into `(key, values)` with their event times: CSV by the header's
/// column names (resolved once per header), JSON objects by key.
///
/// ```
/// use highwater::format::{Decoder, Num, RunKey, Schema, TimeUnit};
/// let schema = Schema {
///     time_field: "t".into(),
///     time_unit: TimeUnit::Millis,
///     key_fields: vec!["auction".into()],
///     value_fields: vec!["price".into()],
/// };
/// let header = ["auction".to_string(), "price".to_string(), "t".to_string()];
/// let csv = schema.bind_csv(Some(&header)).unwrap();
/// let (t, (key, values)) = csv.decode(highwater::format::CsvFields::from_slices(&[b"7", b"12", b"1000"])).unwrap();
/// assert_eq!((t, key, values[0]), (1000, RunKey::Int(7), Num::Int(12)));
/// // A header without a field the schema reads is refused once, not line by line.
/// let err = schema.bind_csv(Some(&header[..2])).err().unwrap();
/// assert!(err.contains("no column `t`"), "{err}");
/// ```
impl Decoder<(RunKey, Values)> for Schema {
    fn bind_csv(&self, header: Option<&[String]>) -> Result<Box<dyn CsvDecoder<(RunKey, Values)>>, String> {
        let Some(names) = header else {
            return Err("fields are read by name: the CSV input needs a header line".into());
        };
        let columns = self.columns(names).map_err(|f| {
            format!(
                "the CSV header has no column `{f}` (its columns: {}); check the field names (--time-field, --key-field, the aggregates' fields)",
                names.join(", ")
            )
        })?;
        Ok(Box::new(SchemaCsv { schema: self.clone(), columns, width: names.len() }))
    }
    fn decode_json(&self, line: &[u8]) -> Result<(i64, (RunKey, Values)), String> {
        let text = std::str::from_utf8(line).map_err(|_| "invalid UTF-8".to_string())?;
        let (k, t, v) = json_record(self, text)?;
        Ok((t, (k, v)))
    }
}

/// Reads one JSON line into a record.
pub(crate) fn json_record(schema: &Schema, text: &str) -> Result<Record, String> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("malformed JSON: {e}"))?;
    let serde_json::Value::Object(map) = value else { return Err("not a JSON object".to_string()) };
    schema.extract(|f| match map.get(f)? {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some(std::borrow::Cow::Owned(s.clone())),
        other => Some(std::borrow::Cow::Owned(other.to_string())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    /// The word-at-a-time digit parsers agree with `str::parse` on every length and on
    /// each byte that is not a digit, wherever it stands.
    #[test]
    fn digits_parse_as_str_parse_does() {
        let mut texts: Vec<Vec<u8>> = Vec::new();
        for len in 1..=18 {
            let digits: Vec<u8> = (0..len).map(|i| b"9081726354"[i % 10]).collect();
            texts.push(digits.clone());
            for at in 0..len {
                for bad in [b'/', b':', b'.', b' ', b'a', 0x80, 0xB9, b'+', b'-', 0xFF, 0x00, b'?', b'@'] {
                    let mut t = digits.clone();
                    t[at] = bad;
                    texts.push(t);
                }
            }
        }
        texts.push(b"999999999999999999".to_vec());
        texts.push(b"000000000000000000".to_vec());
        for t in texts {
            let text = String::from_utf8_lossy(&t);
            let want = if t.iter().all(u8::is_ascii_digit) { text.parse::<i64>().ok() } else { None };
            assert_eq!(decimal_digits(&t), want, "{text:?}");
            assert_eq!(parse_i64_bytes(&t), text.parse::<i64>().ok(), "{text:?}");
        }
        assert_eq!(canonical_int(b"1234567890123456789"), Some(1_234_567_890_123_456_789));
        assert_eq!(canonical_int(b"-9223372036854775808"), None);
        assert_eq!(canonical_int(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(canonical_int(b"-12345678"), Some(-12_345_678));
        assert_eq!(canonical_int(b"012345678"), None);
    }

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
        assert_eq!(
            s.extract(row("5", "2.5")),
            Ok((RunKey::Str("x|y".to_string()), 5, Values(smallvec::smallvec![Num::Float(2.5)])))
        );
        assert!(s.extract(row("five", "1")).unwrap_err().contains("bad time field `t`"));
        assert!(s.extract(row("5", "cheap")).unwrap_err().contains("field `p` is not a number"));
        assert_eq!(Num::Int(i64::MAX) + Num::Int(1), Num::Float(i64::MAX as f64 + 1.0));
    }
}
