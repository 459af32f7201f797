//! Formats: how lines of text become records, whatever brings them (a file, a byte range
//! of one, a TCP connection).
//!
//! - [`Decoder`]: the one decoding interface of every line-oriented source, CSV (bound
//!   once per header) or JSON lines; [`SerdeDecoder`] for any serde type.
//! - [`Schema`]: named fields into a key ([`RunKey`]), an event time ([`TimeUnit`]) and
//!   numbers ([`Num`]) — what `highwater run` reads.
//! - [`time`]: event times from text (RFC 3339, seconds, milliseconds, a format string).

pub(crate) mod csv_lines;
mod csv_ranges;
mod decoder;
pub(crate) mod fastcsv;
mod schema;
pub mod time;

/// Lines longer than this are dead letters (a file that is not line-oriented); the rest
/// of such a line is skipped without being held in memory.
pub const MAX_LINE: usize = 1 << 20;

/// Whether `path` is gzip-compressed (by its `.gz` extension).
///
/// ```
/// use highwater::format::is_gzip;
/// assert!(is_gzip(std::path::Path::new("bids.csv.gz")));
/// ```
pub fn is_gzip(path: &std::path::Path) -> bool {
    path.extension().is_some_and(|e| e.eq_ignore_ascii_case("gz"))
}

pub(crate) use decoder::{decode_csv_line, header_name};
pub use decoder::{CsvDecoder, CsvFields, Decoder, EventTimeFn, SerdeDecoder};
pub use schema::{Num, Record, RunKey, Schema, TimeUnit, Values};
