//! Sources: operators that bring records into a dataflow, stamped with their watermark.
//!
//! - [`FileSource`] replays CSV or JSON-lines files (gzip too), one logical partition per
//!   file, each with its own watermark
//!   ([`highwater_operators::watermark::PartitionWatermark`]).
//! - A line that does not make a record becomes a [`Malformed`] dead letter.
//! - [`Schema`] says which fields make the key, the event time and the values.

pub(crate) mod csv_lines;
mod csv_ranges;
mod file;
mod inputs;
mod malformed;
mod schema;

pub(crate) use file::{count_newlines, json_record};
pub use file::{FileSource, FileStreams, SourceStats};
pub use inputs::{expand_inputs, is_gzip, Format, InputError};
pub use malformed::Malformed;
pub use schema::{Num, Record, RunKey, Schema, TimeUnit, Values};
