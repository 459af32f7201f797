//! Generated events as files for replay: all kinds as CSV or JSON lines, or bids alone as
//! the four-column CSV the windowed queries read.
//!
//! The formats are described on [`Format`].

use super::generator::Generator;
use super::model::Event;
use std::fmt;
use std::io::{self, BufWriter, Write};
use std::ops::Range;
use std::str::FromStr;

/// The columns of a person row of the CSV of all kinds.
pub const PERSON_CSV_COLUMNS: [&str; 9] =
    ["kind", "id", "name", "email_address", "credit_card", "city", "state", "date_time", "extra"];
/// The columns of an auction row of the CSV of all kinds.
pub const AUCTION_CSV_COLUMNS: [&str; 11] = [
    "kind",
    "id",
    "item_name",
    "description",
    "initial_bid",
    "reserve",
    "date_time",
    "expires",
    "seller",
    "category",
    "extra",
];
/// The columns of a bid row of the CSV of all kinds.
pub const BID_CSV_COLUMNS: [&str; 8] = ["kind", "auction", "bidder", "price", "channel", "url", "date_time", "extra"];
/// The header of [`write_bids_csv`]'s file.
pub const BIDS_CSV_HEADER: &str = "auction,bidder,price,date_time_ms";

/// The file format of [`write_events`].
///
/// ## The CSV of all kinds ([`Format::Csv`])
///
/// One file, one event per row, no header: the first field is the kind and the others are
/// that kind's fields in the order of its struct, so rows of different kinds have different
/// lengths (read them with a "flexible" CSV reader and dispatch on the first field):
///
/// | kind | columns |
/// | --- | --- |
/// | person | [`PERSON_CSV_COLUMNS`] |
/// | auction | [`AUCTION_CSV_COLUMNS`] |
/// | bid | [`BID_CSV_COLUMNS`] |
///
/// One union file rather than a file per kind keeps the stream's order, so a replay sees
/// persons, auctions and bids interleaved exactly as generated. Times are integer
/// milliseconds. Generated text never holds a comma, a quote or a line break, but
/// fields are quoted by the CSV rules anyway should it ever do so.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Format {
    /// One CSV file of all kinds, each row led by its kind (see [`Format`]).
    #[default]
    Csv,
    /// One JSON object per line, as [`Event`] serializes: `{"kind":"bid","auction":…}`.
    JsonLines,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Csv => "csv",
            Format::JsonLines => "jsonl",
        })
    }
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "csv" => Ok(Format::Csv),
            "jsonl" | "json-lines" | "jsonlines" => Ok(Format::JsonLines),
            other => Err(format!("unknown event format `{other}`; use csv or jsonl")),
        }
    }
}

/// Writes the events numbered in `range` to `out` in `format` and returns how many.
/// `out` is buffered here; pass the file itself.
///
/// ```
/// use highwater::nexmark::{write_events, Format, Generator};
/// let mut csv = Vec::new();
/// let written = write_events(&Generator::default(), 0..50, Format::Csv, &mut csv).unwrap();
/// assert_eq!(written, 50);
/// let text = String::from_utf8(csv).unwrap();
/// let kinds: Vec<&str> = text.lines().map(|row| row.split(',').next().unwrap()).collect();
/// assert_eq!(kinds[..5], ["person", "auction", "auction", "auction", "bid"]);
/// assert_eq!(kinds.iter().filter(|k| **k == "bid").count(), 46);
///
/// let mut jsonl = Vec::new();
/// write_events(&Generator::default(), 0..50, Format::JsonLines, &mut jsonl).unwrap();
/// let first: serde_json::Value = serde_json::from_slice(jsonl.split(|b| *b == b'\n').next().unwrap()).unwrap();
/// assert_eq!(first["kind"], "person");
/// assert_eq!(first["id"], 1000);
/// ```
pub fn write_events<W: Write>(generator: &Generator, range: Range<u64>, format: Format, out: W) -> io::Result<u64> {
    let mut written = 0;
    match format {
        Format::Csv => {
            let mut csv = csv::WriterBuilder::new().has_headers(false).flexible(true).from_writer(out);
            for event in generator.events(range) {
                write_csv_row(&mut csv, &event)?;
                written += 1;
            }
            csv.flush()?;
        }
        Format::JsonLines => {
            let mut out = BufWriter::with_capacity(1 << 16, out);
            for event in generator.events(range) {
                serde_json::to_writer(&mut out, &event)?;
                out.write_all(b"\n")?;
                written += 1;
            }
            out.flush()?;
        }
    }
    Ok(written)
}

/// One row of the CSV of all kinds.
fn write_csv_row<W: Write>(csv: &mut csv::Writer<W>, event: &Event) -> csv::Result<()> {
    let extra = match event {
        Event::Person(p) => p.extra.text(),
        Event::Auction(a) => a.extra.text(),
        Event::Bid(b) => b.extra.text(),
    };
    let extra: &str = &extra;
    match event {
        Event::Person(p) => csv.write_record([
            "person",
            &p.id.to_string(),
            &p.name,
            &p.email_address,
            &p.credit_card,
            &p.city,
            &p.state,
            &p.date_time.to_string(),
            extra,
        ]),
        Event::Auction(a) => csv.write_record([
            "auction",
            &a.id.to_string(),
            &a.item_name,
            &a.description,
            &a.initial_bid.to_string(),
            &a.reserve.to_string(),
            &a.date_time.to_string(),
            &a.expires.to_string(),
            &a.seller.to_string(),
            &a.category.to_string(),
            extra,
        ]),
        Event::Bid(b) => csv.write_record([
            "bid",
            &b.auction.to_string(),
            &b.bidder.to_string(),
            &b.price.to_string(),
            &b.channel,
            &b.url,
            &b.date_time.to_string(),
            extra,
        ]),
    }
}

/// Writes the bids among the events numbered in `range` as CSV with the header
/// [`BIDS_CSV_HEADER`] (`auction,bidder,price,date_time_ms`), in event order, and returns
/// how many bids. The file other parts of highwater replay; it is built from
/// [`Generator::bid_row`], so no bid strings are made. `out` is buffered here.
///
/// ```
/// use highwater::nexmark::{write_bids_csv, Generator};
/// let mut csv = Vec::new();
/// let bids = write_bids_csv(&Generator::default(), 0..100, &mut csv).unwrap();
/// assert_eq!(bids, 92);
/// let text = String::from_utf8(csv).unwrap();
/// let mut lines = text.lines();
/// assert_eq!(lines.next(), Some("auction,bidder,price,date_time_ms"));
/// let first: Vec<i64> = lines.next().unwrap().split(',').map(|f| f.parse().unwrap()).collect();
/// assert_eq!(first.len(), 4);
/// assert_eq!(first[3], highwater::nexmark::BASE_TIME_MS); // event 4, 0.4 ms in
/// ```
pub fn write_bids_csv<W: Write>(generator: &Generator, range: Range<u64>, out: W) -> io::Result<u64> {
    let mut out = BufWriter::with_capacity(1 << 16, out);
    writeln!(out, "{BIDS_CSV_HEADER}")?;
    let mut written = 0;
    for n in range {
        if let Some(bid) = generator.bid_row(n) {
            writeln!(out, "{},{},{},{}", bid.auction, bid.bidder, bid.price, bid.date_time)?;
            written += 1;
        }
    }
    out.flush()?;
    Ok(written)
}
