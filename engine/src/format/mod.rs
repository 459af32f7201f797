//! Formats: how lines of text become records, whatever brings them (a file, a byte range
//! of one, a TCP connection).
//!
//! - [`Decoder`]: the one decoding interface of every line-oriented source, CSV (bound
//!   once per header) or JSON lines; [`SerdeDecoder`] for any serde type.
//! - [`Schema`]: named fields into a key ([`RunKey`]), an event time ([`TimeUnit`]) and
//!   numbers ([`Num`]) — what `highwater run` reads.

mod decoder;
pub(crate) mod fastcsv;
mod schema;

pub(crate) use decoder::header_name;
pub use decoder::{CsvDecoder, Decoder, EventTimeFn, SerdeDecoder};
pub use schema::{Num, Record, RunKey, Schema, TimeUnit, Values};
