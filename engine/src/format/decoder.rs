//! Record decoders: from a line of text (CSV fields or a JSON object) to a record and its
//! event time. Every line-oriented source — [`crate::pipeline::Files`] and
//! [`crate::pipeline::Tcp`] — decodes through a [`Decoder`], so a format behaves the same
//! whatever transport brings it.
//!
//! Two decoders ship: [`SerdeDecoder`] (any serde type, fields by name from the CSV header
//! or the JSON object, with an event-time function) and [`super::Schema`] (named fields
//! into a key, an event time and numbers: what `highwater run` reads).

use super::fastcsv::RecordDe;
use serde::de::DeserializeOwned;
use std::marker::PhantomData;
use std::sync::Arc;

/// Decodes lines into `(event time, record)`; `Err` is the dead-letter reason.
///
/// CSV is decoded in two steps: [`Decoder::bind_csv`] sees the header of each file or
/// connection once (and may refuse it: a missing column is a failure of the job, not of
/// every line), then the bound [`CsvDecoder`] decodes each record's fields.
pub trait Decoder<T>: Send + Sync {
    /// A decoder of the records under `header` (the header line's names, trimmed and
    /// without a byte-order mark; `None` for CSV without a header). `Err` says why this
    /// header cannot work and what to change.
    fn bind_csv(&self, header: Option<&[String]>) -> Result<Box<dyn CsvDecoder<T>>, String>;
    /// Decodes one JSON line (without its newline).
    fn decode_json(&self, line: &[u8]) -> Result<(i64, T), String>;
}

/// The fields of one CSV record (unquoted, valid UTF-8): a line split on its commas in
/// place, or a list of fields.
///
/// ```
/// use highwater::format::CsvFields;
/// let fields = [&b"a"[..], b"1,5"];
/// let f = CsvFields::from_slices(&fields);
/// assert_eq!((f.len(), f.get(1)), (2, Some(&b"1,5"[..])));
/// ```
#[derive(Clone, Copy, Debug)]
pub struct CsvFields<'a> {
    inner: Inner<'a>,
}

#[derive(Clone, Copy, Debug)]
enum Inner<'a> {
    /// `line` split at the offsets of its commas (no allocation per record).
    Split {
        line: &'a [u8],
        commas: &'a [usize],
    },
    Slices(&'a [&'a [u8]]),
}

impl<'a> CsvFields<'a> {
    /// Fields given one by one.
    pub fn from_slices(fields: &'a [&'a [u8]]) -> Self {
        CsvFields { inner: Inner::Slices(fields) }
    }
    /// A line without quotes and the offset of each of its commas.
    pub(crate) fn split(line: &'a [u8], commas: &'a [usize]) -> Self {
        CsvFields { inner: Inner::Split { line, commas } }
    }
    /// The number of fields.
    pub fn len(&self) -> usize {
        match self.inner {
            Inner::Split { commas, .. } => commas.len() + 1,
            Inner::Slices(f) => f.len(),
        }
    }
    /// Whether there is no field (never, for a split line).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Field `i`.
    #[inline]
    pub fn get(&self, i: usize) -> Option<&'a [u8]> {
        match self.inner {
            Inner::Split { line, commas } => {
                let start = if i == 0 { 0 } else { *commas.get(i - 1)? + 1 };
                let end = match commas.get(i) {
                    Some(&c) => c,
                    None if i == commas.len() => line.len(),
                    None => return None,
                };
                line.get(start..end)
            }
            Inner::Slices(f) => f.get(i).copied(),
        }
    }
    /// The fields in order.
    pub fn iter(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        let me = *self;
        (0..me.len()).filter_map(move |i| me.get(i))
    }
}

/// Decodes the fields of one CSV record, for one header.
pub trait CsvDecoder<T>: Send {
    /// Decodes one record's fields.
    fn decode(&self, fields: CsvFields<'_>) -> Result<(i64, T), String>;
    /// Decodes one record's fields onto the end of `out` (a reader's batch): the same as
    /// `out.push(self.decode(fields)?)`, which a decoder may do without moving the record
    /// twice.
    fn decode_into(&self, fields: CsvFields<'_>, out: &mut Vec<(i64, T)>) -> Result<(), String> {
        out.push(self.decode(fields)?);
        Ok(())
    }
}

/// An event-time function that may fail (the reason becomes a dead letter).
pub type EventTimeFn<T> = Arc<dyn Fn(&T) -> Result<i64, String> + Send + Sync>;

/// Decodes any serde type: CSV fields by the header's names (or by position without a
/// header), JSON objects by key; then takes the event time from the record.
///
/// ```
/// use highwater::format::{Decoder, SerdeDecoder};
/// #[derive(Debug, serde::Deserialize)]
/// struct Bid { auction: u64, t: i64 }
/// let d = SerdeDecoder::new(|b: &Bid| Ok(b.t));
/// let (t, bid) = d.decode_json(br#"{"auction": 7, "t": 1000}"#).unwrap();
/// assert_eq!((t, bid.auction), (1000, 7));
/// let csv = d.bind_csv(Some(&["t".to_string(), "auction".to_string()])).unwrap();
/// use highwater::format::CsvFields;
/// assert_eq!(csv.decode(CsvFields::from_slices(&[b"5", b"9"])).unwrap().0, 5);
/// assert!(csv.decode(CsvFields::from_slices(&[b"5", b"nine"])).unwrap_err().contains("field 2 `auction`"));
/// ```
pub struct SerdeDecoder<T> {
    event_time: EventTimeFn<T>,
    _t: PhantomData<fn() -> T>,
}

impl<T> Clone for SerdeDecoder<T> {
    fn clone(&self) -> Self {
        SerdeDecoder { event_time: self.event_time.clone(), _t: PhantomData }
    }
}

impl<T> SerdeDecoder<T> {
    /// A decoder taking each record's event time from `event_time`.
    pub fn new(event_time: impl Fn(&T) -> Result<i64, String> + Send + Sync + 'static) -> Self {
        SerdeDecoder { event_time: Arc::new(event_time), _t: PhantomData }
    }
    /// The same, from a shared function.
    pub fn from_fn(event_time: EventTimeFn<T>) -> Self {
        SerdeDecoder { event_time, _t: PhantomData }
    }
}

struct SerdeCsv<T> {
    names: Option<Vec<String>>,
    event_time: EventTimeFn<T>,
}

/// The dead-letter reason of a CSV record that did not deserialize.
fn csv_error(e: super::fastcsv::FieldError, de: &RecordDe<'_, '_>, fields: usize) -> String {
    if e.0.starts_with("invalid length") || e.0.starts_with("missing field") {
        format!("not a valid record: {} (the line has {fields} fields)", e.0)
    } else {
        let name = de.names.and_then(|n| n.get(de.current)).map(|n| format!(" `{n}`")).unwrap_or_default();
        format!("not a valid record: field {}{name}: {}", de.current + 1, e.0)
    }
}

impl<T: DeserializeOwned + Send> CsvDecoder<T> for SerdeCsv<T> {
    fn decode(&self, fields: CsvFields<'_>) -> Result<(i64, T), String> {
        let mut de = RecordDe { fields, names: self.names.as_deref(), current: 0 };
        let rec = T::deserialize(&mut de).map_err(|e| csv_error(e, &de, fields.len()))?;
        let t = (self.event_time)(&rec).map_err(|e| format!("bad event time: {e}"))?;
        Ok((t, rec))
    }
}

impl<T: DeserializeOwned + Send + 'static> Decoder<T> for SerdeDecoder<T> {
    fn bind_csv(&self, header: Option<&[String]>) -> Result<Box<dyn CsvDecoder<T>>, String> {
        Ok(Box::new(SerdeCsv { names: header.map(<[String]>::to_vec), event_time: self.event_time.clone() }))
    }
    fn decode_json(&self, line: &[u8]) -> Result<(i64, T), String> {
        let rec: T = serde_json::from_slice(line).map_err(|e| format!("not a valid record: {e}"))?;
        let t = (self.event_time)(&rec).map_err(|e| format!("bad event time: {e}"))?;
        Ok((t, rec))
    }
}

/// A header field's name: trimmed, and without a byte-order mark on the first.
pub(crate) fn header_name(i: usize, raw: &[u8]) -> String {
    let h = String::from_utf8_lossy(raw);
    let h = if i == 0 { h.trim_start_matches('\u{feff}') } else { &h };
    h.trim().to_string()
}

/// Decodes one CSV line without its newline (a Kafka message's value, a socket's line)
/// with a decoder bound to its header: split on commas when it has no quote, else with
/// the full CSV rules.
pub(crate) fn decode_csv_line<T>(csv: &dyn CsvDecoder<T>, line: &[u8]) -> Result<(i64, T), String> {
    let mut fields: Vec<&[u8]> = Vec::with_capacity(8);
    if super::fastcsv::split(line, &mut fields) {
        return csv.decode(CsvFields::from_slices(&fields));
    }
    let mut rdr = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(line);
    let mut rec = csv::StringRecord::new();
    match rdr.read_record(&mut rec) {
        Ok(_) => {
            let slices: Vec<&[u8]> = rec.iter().map(str::as_bytes).collect();
            csv.decode(CsvFields::from_slices(&slices))
        }
        Err(e) => Err(format!("not valid CSV: {e}")),
    }
}
