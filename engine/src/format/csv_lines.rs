//! A CSV record reader over bytes, for file replay: a line without quotes or stray carriage
//! returns is split on commas in place (no copy, no allocation); any other record goes
//! through `csv_core`, so every valid CSV still reads as the `csv` crate reads it.
//!
//! Each record is reported at its own position: the byte and line where the record itself
//! starts (after any blank lines before it and after the `\n` of a `\r\n`), so dead
//! letters name the line to look at. A byte-order mark at the start of the file is skipped.
//!
//! Bounds, so that a bad byte cannot swallow the file: a line longer than the maximum
//! ([`super::MAX_LINE`]) is skipped to its end ([`Next::TooLong`]); a record with
//! a quote that opens a field is at most that many bytes and spans at most
//! [`MAX_RECORD_LINES`] lines, and must be closed before the end of the file, else it is
//! skipped to the end of its first line ([`Next::TooLong`] with [`Skipped::OpenQuote`]
//! naming the quote) and reading resumes at the next line.
//!
//! It can read a byte range of a file ([`open_range`]): a range is moved to the record
//! boundaries that [`super::csv_ranges`] finds once per file, the same for the range before
//! and the range after, so every byte of the file is read by exactly one range. Line
//! numbers are then counted from the range's start (the caller adds the lines before it).

pub use super::csv_ranges::MAX_RECORD_LINES;
use super::csv_ranges::{open_quote, record_boundary};
use std::io::{self, Read};
use std::path::PathBuf;

/// What [`CsvLines::next`] found.
pub(crate) enum Next {
    /// A simple line: the record is `buf[a..b]`, fields separated by commas.
    Fast(usize, usize),
    /// A record read by `csv_core`: its fields are in [`CsvLines::slow_fields`].
    Slow,
    /// A line longer than the reader's maximum, a record left open or over the bounds, or
    /// a record cut by the end of the range: skipped ([`CsvLines::skipped`] says why); its
    /// start is in [`CsvLines::long_prefix`].
    TooLong,
    /// The end of the input (or of the byte range).
    End,
}

/// Why the last [`Next::TooLong`] was skipped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Skipped {
    /// A line longer than the maximum (skipped to its end).
    LongLine,
    /// A quoted field opened at this position is not closed within the bounds (or before
    /// the end of the file): the record is skipped to the end of its first line.
    OpenQuote(Pos),
    /// The record runs past the end of the byte range (the file changed while read?).
    Cut,
}

/// A position in the input: the byte offset and the newlines before it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Pos {
    /// Absolute byte offset.
    pub(crate) byte: u64,
    /// Newlines between the start of the reader and `byte`.
    pub(crate) newlines: u64,
}

/// A buffered CSV reader of one file or byte range.
pub(crate) struct CsvLines {
    input: Box<dyn Read + Send>,
    /// The file (for a reader of a plain file): where [`CsvLines::set_end`] finds the
    /// boundary a split moves to.
    path: Option<PathBuf>,
    /// The buffer: `buf[..filled]` holds the bytes from absolute offset `base`.
    pub(crate) buf: Vec<u8>,
    base: u64,
    filled: usize,
    scan: usize,
    eof: bool,
    /// A byte-order mark may still be at the start (a reader from offset 0).
    bom: bool,
    /// Nothing more to read (after a record cut by the end of the range).
    finished: bool,
    /// Newlines before `buf[scan]`, since the start of the reader.
    newlines: u64,
    /// Records starting at or after this absolute offset are not this reader's.
    end: u64,
    core: csv_core::Reader,
    out: Vec<u8>,
    ends: Vec<usize>,
    nfields: usize,
    origin: u64,
    /// The offset (in the line) of every comma of the last [`Next::Fast`] record.
    pub(crate) commas: Vec<usize>,
    /// Whether the last [`Next::Fast`] record is ASCII (else it must be checked as UTF-8).
    pub(crate) ascii: bool,
    /// Where the last record starts (its own line, after any blank lines before it); also
    /// what [`CsvLines::next`] returns.
    pub(crate) record: Pos,
    /// The longest line (or quoted record) read; longer ones are [`Next::TooLong`].
    max_line: usize,
    /// The first bytes of the last [`Next::TooLong`] record.
    pub(crate) long_prefix: Vec<u8>,
    /// Why the last [`Next::TooLong`] record was skipped.
    pub(crate) skipped: Skipped,
}

/// The bytes of an over-long line kept for its dead letter.
const LONG_PREFIX: usize = 200;

/// Bytes the line scan stops at: comma, newline, quote, carriage return.
const CLASS: [u8; 256] = {
    let mut c = [0u8; 256];
    c[b',' as usize] = 1;
    c[b'\n' as usize] = 1;
    c[b'"' as usize] = 1;
    c[b'\r' as usize] = 1;
    c
};

/// What one pass over a line found ([`scan_line`]).
struct Scan {
    /// The offset of the line's `\n`, if the bytes hold one.
    nl: Option<usize>,
    /// Quotes and carriage returns before it.
    quotes: u32,
    crs: u32,
    /// The OR of its bytes (high bit clear: ASCII).
    high: u8,
}

const ONES: u64 = 0x0101_0101_0101_0101;
const LOW7: u64 = 0x7F7F_7F7F_7F7F_7F7F;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// `0x80` in each byte of `w` below `0x2D` — the bytes `,` `\n` `"` `\r` are among them,
/// digits and letters are not — and `0` in the others. Exact: no carry crosses bytes.
#[inline(always)]
fn candidates(w: u64) -> u64 {
    let at_least = ((w & LOW7).wrapping_add(ONES * (0x80 - 0x2D))) | w;
    !at_least & HIGH
}

/// One pass over `bytes` up to the first `\n`: the offsets of its commas (into `commas`),
/// its quotes and carriage returns, and whether it is ASCII. Eight bytes at a time: one
/// mask finds the bytes that may be `,` `\n` `"` `\r`, and only those are looked at.
#[inline(always)]
fn scan_line(bytes: &[u8], commas: &mut Vec<usize>) -> Scan {
    let (mut quotes, mut crs, mut high) = (0u32, 0u32, 0u64);
    let mut words = bytes.chunks_exact(8);
    let mut base = 0;
    for word in words.by_ref() {
        let w = u64::from_le_bytes(word.try_into().expect("8 bytes"));
        let mut hits = candidates(w);
        while hits != 0 {
            let bit = hits.trailing_zeros();
            let i = bit as usize / 8;
            match word[i] {
                b',' => commas.push(base + i),
                b'\n' => {
                    // The bytes up to and including the newline.
                    high |= w & (u64::MAX >> (63 - bit));
                    return Scan { nl: Some(base + i), quotes, crs, high: fold(high) };
                }
                b'"' => quotes += 1,
                b'\r' => crs += 1,
                _ => {}
            }
            hits &= hits - 1;
        }
        high |= w;
        base += 8;
    }
    for (i, &b) in words.remainder().iter().enumerate() {
        high |= b as u64;
        if CLASS[b as usize] != 0 {
            match b {
                b',' => commas.push(base + i),
                b'\n' => return Scan { nl: Some(base + i), quotes, crs, high: fold(high) },
                b'"' => quotes += 1,
                _ => crs += 1,
            }
        }
    }
    Scan { nl: None, quotes, crs, high: fold(high) }
}

/// The OR of a word's bytes.
#[inline(always)]
fn fold(w: u64) -> u8 {
    w.to_le_bytes().iter().fold(0, |a, b| a | b)
}

impl CsvLines {
    /// A reader of `input`, whose first byte is at absolute offset `base` and is the start
    /// of a record, up to `end`, reading `chunk` bytes at a time (a small chunk to read a
    /// header or probe a few lines; the buffer still grows for a longer line). A reader
    /// from offset 0 skips a byte-order mark.
    pub(crate) fn with_chunk(input: Box<dyn Read + Send>, base: u64, end: u64, chunk: usize) -> Self {
        CsvLines {
            input,
            path: None,
            buf: vec![0; chunk.max(1024)],
            base,
            filled: 0,
            scan: 0,
            eof: false,
            bom: base == 0,
            finished: false,
            newlines: 0,
            end,
            core: csv_core::Reader::new(),
            out: vec![0; 1024],
            ends: vec![0; 64],
            nfields: 0,
            origin: base,
            commas: Vec::with_capacity(16),
            ascii: true,
            record: Pos { byte: base, newlines: 0 },
            max_line: usize::MAX,
            long_prefix: Vec::new(),
            skipped: Skipped::LongLine,
        }
    }

    /// Lines (or quoted records) longer than `max` bytes are skipped as [`Next::TooLong`]
    /// instead of being buffered whole (a file that is not line-oriented).
    pub(crate) fn max_line(mut self, max: usize) -> Self {
        self.max_line = max.max(1);
        self
    }

    /// The absolute offset the reader's first line starts at.
    pub(crate) fn origin(&self) -> u64 {
        self.origin
    }

    /// Stops before the first record starting at or after `end` (absolute): for a reader
    /// of a plain file, after the boundary that the split `end` moves to (the one the next
    /// range starts at).
    pub(crate) fn set_end(&mut self, end: u64) {
        self.end = match &self.path {
            Some(path) => record_boundary(path, end).unwrap_or(end),
            None => end,
        };
    }

    /// Bytes consumed so far, from the reader's first byte.
    pub(crate) fn consumed(&self, from: u64) -> u64 {
        (self.base + self.scan as u64).saturating_sub(from)
    }

    /// Keeps `buf[scan..filled]`, moved to the front, and reads more after it.
    fn refill(&mut self) -> io::Result<()> {
        if self.scan > 0 {
            self.buf.copy_within(self.scan..self.filled, 0);
            self.base += self.scan as u64;
            self.filled -= self.scan;
            self.scan = 0;
        }
        if self.filled == self.buf.len() {
            let n = self.buf.len() * 2;
            self.buf.resize(n, 0);
        }
        loop {
            match self.input.read(&mut self.buf[self.filled..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(());
                }
                Ok(n) => {
                    self.filled += n;
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// The fields of the last [`Next::Slow`] record.
    pub(crate) fn slow_fields(&self) -> impl Iterator<Item = &[u8]> {
        let mut start = 0;
        self.ends[..self.nfields].iter().map(move |&e| {
            let f = &self.out[start..e];
            start = e;
            f
        })
    }

    /// The bytes of all fields of the last [`Next::Slow`] record, concatenated.
    pub(crate) fn slow_bytes(&self) -> &[u8] {
        &self.out[..self.ends[..self.nfields].last().copied().unwrap_or(0)]
    }

    /// Skips a byte-order mark at the start of the file.
    fn skip_bom(&mut self) -> io::Result<()> {
        self.bom = false;
        while self.filled - self.scan < 3 && !self.eof {
            self.refill()?;
        }
        if self.buf[self.scan..self.filled].starts_with(b"\xEF\xBB\xBF") {
            self.scan += 3;
            self.origin = self.base + self.scan as u64;
        }
        Ok(())
    }

    /// The next record and where it starts. An I/O error leaves the reader where it was.
    pub(crate) fn next(&mut self) -> io::Result<(Next, Pos)> {
        if self.bom {
            self.skip_bom()?;
        }
        loop {
            let here = Pos { byte: self.base + self.scan as u64, newlines: self.newlines };
            if self.finished || here.byte >= self.end {
                return Ok((Next::End, here));
            }
            // One pass over the line: its end, its commas, quotes, carriage returns and
            // whether it is ASCII.
            let start = self.scan;
            self.commas.clear();
            let Scan { nl, quotes, crs, high } = scan_line(&self.buf[start..self.filled], &mut self.commas);
            if nl.is_none() && !self.eof {
                if self.filled - start > self.max_line {
                    return self.skip_first_line(Skipped::LongLine);
                }
                self.refill()?;
                continue;
            }
            if nl.unwrap_or(self.filled - start) > self.max_line {
                return self.skip_first_line(Skipped::LongLine);
            }
            if self.scan == self.filled {
                return Ok((Next::End, here));
            }
            self.ascii = high < 0x80;
            let line_end = nl.map_or(self.filled, |i| start + i);
            let crlf = line_end > start && self.buf[line_end - 1] == b'\r';
            let content_end = if crlf { line_end - 1 } else { line_end };
            self.record = here;
            if quotes > 0 || crs > crlf as u32 {
                return self.slow();
            }
            if content_end == start {
                // A blank line: part of the lead-in of the next record.
                self.scan = if nl.is_some() { line_end + 1 } else { line_end };
                self.newlines += nl.is_some() as u64;
                continue;
            }
            if self.base + line_end as u64 + nl.is_some() as u64 > self.end {
                return Ok(self.cut(line_end));
            }
            if nl.is_some() {
                self.scan = line_end + 1;
                self.newlines += 1;
            } else {
                self.scan = line_end;
            }
            return Ok((Next::Fast(start, content_end), here));
        }
    }

    /// The record at `scan`, running to `buf[..to]` past the end of the range: skipped,
    /// and the reader ends (the bytes after the end are the next range's).
    fn cut(&mut self, to: usize) -> (Next, Pos) {
        self.long_prefix.clear();
        let keep = (to - self.scan).min(LONG_PREFIX);
        self.long_prefix.extend_from_slice(&self.buf[self.scan..self.scan + keep]);
        self.skipped = Skipped::Cut;
        self.finished = true;
        (Next::TooLong, self.record)
    }

    /// Skips the record at `scan` to just after the end of its first line (or the end of
    /// the input), keeping its first bytes in `long_prefix`.
    fn skip_first_line(&mut self, why: Skipped) -> io::Result<(Next, Pos)> {
        self.record = Pos { byte: self.base + self.scan as u64, newlines: self.newlines };
        self.skipped = why;
        self.long_prefix.clear();
        let keep = (self.filled - self.scan).min(LONG_PREFIX);
        self.long_prefix.extend_from_slice(&self.buf[self.scan..self.scan + keep]);
        loop {
            if let Some(i) = memchr::memchr(b'\n', &self.buf[self.scan..self.filled]) {
                self.scan += i + 1;
                self.newlines += 1;
                break;
            }
            self.scan = self.filled;
            if self.eof {
                break;
            }
            self.refill()?;
        }
        // A record running past the end of the range (the file changed?) ends the reader.
        self.finished = self.base + self.scan as u64 > self.end;
        Ok((Next::TooLong, self.record))
    }

    /// Skips the record at `scan`, whose first `consumed` bytes are in the buffer, as one
    /// left open by a quote (or, with no quoted field spanning a line, too long).
    fn skip_open(&mut self, consumed: usize) -> io::Result<(Next, Pos)> {
        let rec = &self.buf[self.scan..(self.scan + consumed).min(self.filled)];
        let (spanning, at_end) = open_quote(rec);
        let why = match spanning.or(at_end) {
            Some(q) => Skipped::OpenQuote(Pos {
                byte: self.base + (self.scan + q) as u64,
                newlines: self.newlines + memchr::memchr_iter(b'\n', &rec[..q]).count() as u64,
            }),
            None => Skipped::LongLine,
        };
        self.skip_first_line(why)
    }

    /// Reads one record at `scan` with `csv_core`.
    fn slow(&mut self) -> io::Result<(Next, Pos)> {
        use csv_core::ReadRecordResult as R;
        self.core.reset();
        let (mut consumed, mut outlen, mut endlen) = (0usize, 0usize, 0usize);
        let mut newlines = 0u64;
        loop {
            let input = &self.buf[self.scan + consumed..self.filled];
            let (res, nin, nout, nend) =
                self.core.read_record(input, &mut self.out[outlen..], &mut self.ends[endlen..]);
            newlines += memchr::memchr_iter(b'\n', &input[..nin]).count() as u64;
            consumed += nin;
            outlen += nout;
            endlen += nend;
            if consumed > self.max_line || newlines > MAX_RECORD_LINES {
                // A quote left open, or a record that is not one: skip its first line.
                return self.skip_open(consumed);
            }
            match res {
                R::InputEmpty => {
                    if !self.eof {
                        // Keep the record's start; `consumed` stays relative to it.
                        self.refill()?;
                    } else {
                        // csv_core finishes on an empty input at the end.
                        let (res, _, nout, nend) =
                            self.core.read_record(&[], &mut self.out[outlen..], &mut self.ends[endlen..]);
                        outlen += nout;
                        endlen += nend;
                        match res {
                            R::Record => return self.finish_slow(consumed, newlines, endlen, true),
                            R::OutputFull => self.out.resize(self.out.len() * 2, 0),
                            R::OutputEndsFull => self.ends.resize(self.ends.len() * 2, 0),
                            R::End | R::InputEmpty => {
                                self.scan = self.filled;
                                return Ok((Next::End, self.record));
                            }
                        }
                    }
                }
                R::OutputFull => {
                    let n = self.out.len() * 2;
                    self.out.resize(n, 0);
                }
                R::OutputEndsFull => {
                    let n = self.ends.len() * 2;
                    self.ends.resize(n, 0);
                }
                R::Record => return self.finish_slow(consumed, newlines, endlen, false),
                R::End => {
                    self.scan = self.filled;
                    return Ok((Next::End, self.record));
                }
            }
        }
    }

    /// The record of `consumed` bytes at `scan` (with `newlines` newlines, its line break
    /// included), read by `csv_core` into `nfields` fields; `at_eof`: ended by the end of
    /// the input rather than by a line break.
    fn finish_slow(&mut self, consumed: usize, newlines: u64, nfields: usize, at_eof: bool) -> io::Result<(Next, Pos)> {
        let end = (self.scan + consumed).min(self.filled);
        let rec = &self.buf[self.scan..end];
        // csv_core also ends a record on an empty input once the input is at its end.
        let open_at_end = (at_eof || (self.eof && end == self.filled)) && open_quote(rec).1.is_some();
        let inside = newlines - (!open_at_end && rec.last() == Some(&b'\n')) as u64;
        if inside >= MAX_RECORD_LINES || open_at_end {
            return self.skip_open(consumed);
        }
        if self.base + end as u64 > self.end {
            return Ok(self.cut(end));
        }
        self.newlines += newlines;
        self.scan = end;
        self.nfields = nfields;
        Ok((Next::Slow, self.record))
    }
}

/// A reader of the records of `path` in `[start, end)`, each moved to the record boundary
/// the neighbouring range agrees on ([`record_boundary`]; a gzip file: all of it), reading
/// `chunk` bytes at a time, with lines over [`super::MAX_LINE`] skipped as
/// [`Next::TooLong`].
pub(crate) fn open_range(path: &std::path::Path, start: u64, end: u64, chunk: usize) -> io::Result<CsvLines> {
    use std::io::{Seek, SeekFrom};
    let max = super::MAX_LINE;
    let mut file = std::fs::File::open(path)?;
    if super::is_gzip(path) {
        let raw: Box<dyn Read + Send> =
            Box::new(flate2::read::MultiGzDecoder::new(std::io::BufReader::with_capacity(1 << 16, file)));
        return Ok(CsvLines::with_chunk(raw, 0, u64::MAX, chunk).max_line(max));
    }
    let from = record_boundary(path, start)?;
    let to = record_boundary(path, end)?;
    let input: Box<dyn Read + Send> = if from >= to {
        // An empty range (inside a long line or record that the range before reads).
        Box::new(io::empty())
    } else {
        file.seek(SeekFrom::Start(from))?;
        Box::new(file)
    };
    let mut lines = CsvLines::with_chunk(input, from.min(to), to, chunk).max_line(max);
    lines.path = Some(path.to_path_buf());
    Ok(lines)
}

/// The line number in `path` of a record at `pos` of a reader whose first line starts at
/// byte `origin`: the newlines before `origin` are counted once, into `prefix`, when first
/// needed (a dead letter of a byte range after the first).
pub(crate) fn line_number(path: &std::path::Path, prefix: &mut Option<u64>, origin: u64, pos: Pos) -> u64 {
    let before = match *prefix {
        Some(p) => p,
        None if origin == 0 => 0,
        None => *prefix.insert(count_newlines(path, origin).unwrap_or(0)),
    };
    before + 1 + pos.newlines
}

/// Counts the newlines of `path` before byte `end`.
pub(crate) fn count_newlines(path: &std::path::Path, end: u64) -> std::io::Result<u64> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)?.take(end);
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        let got = f.read(&mut buf)?;
        if got == 0 {
            return Ok(n);
        }
        n += memchr::memchr_iter(b'\n', &buf[..got]).count() as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The word-at-a-time line scan finds what a byte-at-a-time one finds, on lines of
    /// every length and any bytes (commas, quotes, `\r`, UTF-8, several newlines).
    #[test]
    fn the_word_scan_agrees_with_a_byte_scan() {
        let alphabet: &[u8] = b",,\n\"\r09azAZ \xC3\xA9\xFF\x00\x7F\x80";
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        for n in 0..2_000 {
            let len = n % 41;
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    // Mostly digits, as CSV numbers are; now and then a special byte.
                    if seed.is_multiple_of(4) {
                        alphabet[(seed >> 8) as usize % alphabet.len()]
                    } else {
                        b'0' + (seed >> 8) as u8 % 10
                    }
                })
                .collect();
            let mut commas = Vec::new();
            let got = scan_line(&bytes, &mut commas);
            let (mut want_commas, mut quotes, mut crs, mut high, mut nl) = (Vec::new(), 0, 0, 0u8, None);
            for (i, &b) in bytes.iter().enumerate() {
                high |= b;
                match b {
                    b',' => want_commas.push(i),
                    b'\n' => {
                        nl = Some(i);
                        break;
                    }
                    b'"' => quotes += 1,
                    b'\r' => crs += 1,
                    _ => {}
                }
            }
            assert_eq!(
                (got.nl, got.quotes, got.crs, got.high, commas),
                (nl, quotes, crs, high, want_commas),
                "{bytes:?}"
            );
        }
    }

    /// The records of `text` (written to a file) read from its start: (line, byte, kind).
    fn positions(name: &str, text: &[u8]) -> Vec<(u64, u64, &'static str)> {
        let path = std::env::temp_dir().join(format!("hw-csv-lines-{}-{name}", std::process::id()));
        std::fs::write(&path, text).unwrap();
        let mut lines = open_range(&path, 0, u64::MAX, 1 << 10).unwrap();
        let mut out = Vec::new();
        loop {
            let (next, pos) = lines.next().unwrap();
            let kind = match next {
                Next::End => break,
                Next::Fast(..) => "fast",
                Next::Slow => "slow",
                Next::TooLong => "skipped",
            };
            out.push((pos.newlines + 1, pos.byte, kind));
        }
        let _ = std::fs::remove_file(&path);
        out
    }

    /// After CRLF lines and blank lines, a record is reported at the line and byte where it
    /// starts itself (counted by hand), not where the previous record's terminator ends.
    #[test]
    fn dead_letter_positions_after_crlf_and_blank_lines_are_the_records_own() {
        // line 1 `a,b\r\n` (0..5), 2 `1,2\r\n` (5..10), 3 blank `\n` (10), 4 blank `\r\n`
        // (11..13), 5 `bad\n` (13..17), 6 `"q\r\nq",x\r\n` (17..27; its line 7 at 21),
        // 8 blank (27), 9 `x,"y"` (28..).
        let text = b"a,b\r\n1,2\r\n\n\r\nbad\n\"q\r\nq\",x\r\n\nx,\"y\"";
        assert_eq!(
            positions("crlf", text),
            vec![(1, 0, "fast"), (2, 5, "fast"), (5, 13, "fast"), (6, 17, "slow"), (9, 28, "slow")]
        );
    }

    /// A byte-order mark is not part of the first record (the header's first name).
    #[test]
    fn a_byte_order_mark_is_skipped() {
        let path = std::env::temp_dir().join(format!("hw-csv-lines-bom-{}", std::process::id()));
        std::fs::write(&path, b"\xEF\xBB\xBFk,t\n1,2\n").unwrap();
        let mut lines = open_range(&path, 0, u64::MAX, 1 << 10).unwrap();
        let Ok((Next::Fast(a, b), _)) = lines.next() else { panic!("a simple line") };
        assert_eq!(&lines.buf[a..b], b"k,t");
        let _ = std::fs::remove_file(&path);
    }
}
