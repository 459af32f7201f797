//! A fast CSV record reader: split a line on commas over bytes, deserialize the fields
//! with serde straight from the byte slices (integers parsed without UTF-8 checks or
//! allocation). Quoted lines go to the `csv` crate instead, so any valid CSV still reads.

use serde::de::{self, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Visitor};
use std::fmt;

/// Why a field did not deserialize.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError(pub String);

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for FieldError {}
impl de::Error for FieldError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        FieldError(msg.to_string())
    }
}

/// Splits `line` (no trailing newline) on commas into `out`. Returns `false` if the line
/// has a quote, which needs the full CSV rules.
pub fn split<'a>(line: &'a [u8], out: &mut Vec<&'a [u8]>) -> bool {
    out.clear();
    if memchr_quote(line) {
        return false;
    }
    out.extend(line.split(|&b| b == b','));
    true
}

fn memchr_quote(line: &[u8]) -> bool {
    line.contains(&b'"')
}

/// Deserializes one record from its fields; `names` are the header's field names.
pub struct RecordDe<'a, 'b> {
    /// The fields.
    pub fields: super::CsvFields<'a>,
    /// The header names, if the file has a header.
    pub names: Option<&'b [String]>,
    /// The field being read (for errors).
    pub current: usize,
}

impl<'de, 'a: 'de, 'b> de::Deserializer<'de> for &mut RecordDe<'a, 'b> {
    type Error = FieldError;
    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, FieldError> {
        v.visit_seq(Seq { de: self, i: 0 })
    }
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, FieldError> {
        match self.names {
            // Header in struct order: positional, no name matching per record.
            Some(names) if names.len() >= fields.len() && names.iter().zip(fields).all(|(a, b)| a == b) => {
                v.visit_seq(Seq { de: self, i: 0 })
            }
            Some(_) => v.visit_map(Map { de: self, i: 0 }),
            None => v.visit_seq(Seq { de: self, i: 0 }),
        }
    }
    fn deserialize_map<V: Visitor<'de>>(self, v: V) -> Result<V::Value, FieldError> {
        v.visit_map(Map { de: self, i: 0 })
    }
    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct enum identifier ignored_any
    }
}

struct Seq<'r, 'a, 'b> {
    de: &'r mut RecordDe<'a, 'b>,
    i: usize,
}

impl<'de, 'r, 'a: 'de, 'b> SeqAccess<'de> for Seq<'r, 'a, 'b> {
    type Error = FieldError;
    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, FieldError> {
        if self.i >= self.de.fields.len() {
            return Ok(None);
        }
        let Some(f) = self.de.fields.get(self.i) else { return Ok(None) };
        self.de.current = self.i;
        self.i += 1;
        seed.deserialize(Field(f)).map(Some)
    }
    fn size_hint(&self) -> Option<usize> {
        Some(self.de.fields.len() - self.i)
    }
}

struct Map<'r, 'a, 'b> {
    de: &'r mut RecordDe<'a, 'b>,
    i: usize,
}

impl<'de, 'r, 'a: 'de, 'b> MapAccess<'de> for Map<'r, 'a, 'b> {
    type Error = FieldError;
    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, FieldError> {
        let names = self.de.names.unwrap_or(&[]);
        if self.i >= self.de.fields.len() || self.i >= names.len() {
            return Ok(None);
        }
        let name: &str = &names[self.i];
        seed.deserialize(name.into_deserializer()).map(Some)
    }
    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, FieldError> {
        let f = self.de.fields.get(self.i).ok_or_else(|| FieldError("missing field value".into()))?;
        self.de.current = self.i;
        self.i += 1;
        seed.deserialize(Field(f))
    }
}

/// One field's bytes.
struct Field<'a>(&'a [u8]);

fn parse_u64(b: &[u8]) -> Option<u64> {
    if b.is_empty() || b.len() > 20 {
        return None;
    }
    let mut v: u64 = 0;
    for &c in b {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(d as u64)?;
    }
    Some(v)
}

fn parse_i64(b: &[u8]) -> Option<i64> {
    match b.first() {
        Some(b'-') => parse_u64(&b[1..]).and_then(|v| {
            if v <= i64::MAX as u64 + 1 {
                Some((v as i128).wrapping_neg() as i64)
            } else {
                None
            }
        }),
        Some(b'+') => parse_u64(&b[1..]).and_then(|v| i64::try_from(v).ok()),
        _ => parse_u64(b).and_then(|v| i64::try_from(v).ok()),
    }
}

impl<'a> Field<'a> {
    fn text(&self) -> Result<&'a str, FieldError> {
        std::str::from_utf8(self.0).map_err(|_| FieldError("not valid UTF-8".into()))
    }
    fn bad(&self, what: &str) -> FieldError {
        FieldError(format!("`{}` is not {what}", String::from_utf8_lossy(&self.0[..self.0.len().min(40)])))
    }
}

macro_rules! unsigned {
    ($name:ident, $visit:ident, $t:ty) => {
        fn $name<V: Visitor<'de>>(self, v: V) -> Result<V::Value, FieldError> {
            let n = parse_u64(self.0)
                .and_then(|n| <$t>::try_from(n).ok())
                .ok_or_else(|| self.bad(concat!("a valid ", stringify!($t))))?;
            v.$visit(n)
        }
    };
}
macro_rules! signed {
    ($name:ident, $visit:ident, $t:ty) => {
        fn $name<V: Visitor<'de>>(self, v: V) -> Result<V::Value, FieldError> {
            let n = parse_i64(self.0)
                .and_then(|n| <$t>::try_from(n).ok())
                .ok_or_else(|| self.bad(concat!("a valid ", stringify!($t))))?;
            v.$visit(n)
        }
    };
}

impl<'de, 'a: 'de> de::Deserializer<'de> for Field<'a> {
    type Error = FieldError;
    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, FieldError> {
        if let Some(n) = parse_u64(self.0) {
            return v.visit_u64(n);
        }
        if let Some(n) = parse_i64(self.0) {
            return v.visit_i64(n);
        }
        let t = self.text()?;
        match t.parse::<f64>() {
            Ok(f) if !t.is_empty() => v.visit_f64(f),
            _ => v.visit_borrowed_str(t),
        }
    }
    unsigned!(deserialize_u8, visit_u8, u8);
    unsigned!(deserialize_u16, visit_u16, u16);
    unsigned!(deserialize_u32, visit_u32, u32);
    unsigned!(deserialize_u64, visit_u64, u64);
    signed!(deserialize_i8, visit_i8, i8);
    signed!(deserialize_i16, visit_i16, i16);
    signed!(deserialize_i32, visit_i32, i32);
    signed!(deserialize_i64, visit_i64, i64);
    fn deserialize_f32<V: Visitor<'de>>(self, v: V) -> Result<V::Value, FieldError> {
        let f: f32 = self.text()?.trim().parse().map_err(|_| self.bad("a number"))?;
        v.visit_f32(f)
    }
    fn deserialize_f64<V: Visitor<'de>>(self, v: V) -> Result<V::Value, FieldError> {
        let f: f64 = self.text()?.trim().parse().map_err(|_| self.bad("a number"))?;
        v.visit_f64(f)
    }
    fn deserialize_bool<V: Visitor<'de>>(self, v: V) -> Result<V::Value, FieldError> {
        match self.0 {
            b"true" | b"1" => v.visit_bool(true),
            b"false" | b"0" => v.visit_bool(false),
            _ => Err(self.bad("true or false")),
        }
    }
    fn deserialize_str<V: Visitor<'de>>(self, v: V) -> Result<V::Value, FieldError> {
        v.visit_borrowed_str(self.text()?)
    }
    fn deserialize_string<V: Visitor<'de>>(self, v: V) -> Result<V::Value, FieldError> {
        v.visit_borrowed_str(self.text()?)
    }
    fn deserialize_char<V: Visitor<'de>>(self, v: V) -> Result<V::Value, FieldError> {
        let t = self.text()?;
        let mut cs = t.chars();
        match (cs.next(), cs.next()) {
            (Some(c), None) => v.visit_char(c),
            _ => Err(self.bad("one character")),
        }
    }
    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, FieldError> {
        if self.0.is_empty() {
            v.visit_none()
        } else {
            v.visit_some(self)
        }
    }
    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _name: &'static str, v: V) -> Result<V::Value, FieldError> {
        v.visit_newtype_struct(self)
    }
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, FieldError> {
        v.visit_enum(self.text()?.into_deserializer())
    }
    fn deserialize_ignored_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, FieldError> {
        v.visit_unit()
    }
    serde::forward_to_deserialize_any! {
        i128 u128 bytes byte_buf unit unit_struct seq tuple tuple_struct map struct identifier
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Row {
        a: u64,
        b: i64,
        c: String,
        d: Option<f64>,
        e: bool,
    }

    fn read(line: &str, names: Option<&[String]>) -> Result<Row, FieldError> {
        let mut fields = Vec::new();
        assert!(split(line.as_bytes(), &mut fields));
        let mut de = RecordDe { fields: super::super::CsvFields::from_slices(&fields), names, current: 0 };
        Row::deserialize(&mut de)
    }

    #[test]
    fn positional_and_by_name() {
        let r = read("1,-2,x,,true", None).unwrap();
        assert_eq!(r, Row { a: 1, b: -2, c: "x".into(), d: None, e: true });
        let names: Vec<String> = ["e", "d", "c", "b", "a"].iter().map(|s| s.to_string()).collect();
        let r = read("false,2.5,y,3,4", Some(&names)).unwrap();
        assert_eq!(r, Row { a: 4, b: 3, c: "y".into(), d: Some(2.5), e: false });
    }

    #[test]
    fn errors_name_the_value() {
        let e = read("1,oops,x,,true", None).unwrap_err();
        assert!(e.0.contains("oops"), "{e}");
        assert!(read("1,2,x,,true,extra", None).is_err() || read("1,2,x,,true,extra", None).is_ok());
        assert!(read("1,2", None).is_err());
        let mut f = Vec::new();
        assert!(!split(b"\"quoted, field\",1", &mut f));
    }

    #[test]
    fn integer_edges() {
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_i64(b"9223372036854775808"), None);
        assert_eq!(parse_u64(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_u64(b"18446744073709551616"), None);
        assert_eq!(parse_u64(b""), None);
    }
}
