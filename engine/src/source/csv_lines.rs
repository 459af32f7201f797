//! A CSV record reader over bytes, for file replay: a line without quotes or stray carriage
//! returns is split on commas in place (no copy, no allocation); any other record goes
//! through `csv_core`, so every valid CSV still reads as the `csv` crate reads it.
//!
//! It reports each record's position the way the `csv` crate does (the byte and line just
//! after the previous record's terminator, so blank lines before a record and the `\n` of a
//! `\r\n` count as part of it), so dead letters keep their line numbers and offsets.
//!
//! It can read a byte range `[start, end)` of a file: it begins after the first newline at
//! or after `start - 1` (at a line start) and stops before the first line starting at or
//! after `end`. Line numbers are then counted from `start` (the caller adds the lines
//! before it).

use std::io::{self, Read};

/// What [`CsvLines::next`] found.
pub(crate) enum Next {
    /// A simple line: the record is `buf[a..b]`, fields separated by commas.
    Fast(usize, usize),
    /// A record read by `csv_core`: its fields are in [`CsvLines::slow_fields`].
    Slow,
    /// A line longer than the reader's maximum: skipped to its end; its start is in
    /// [`CsvLines::long_prefix`].
    TooLong,
    /// The end of the input (or of the byte range).
    End,
}

/// A record's position as the `csv` crate reports it.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Pos {
    /// Absolute byte offset.
    pub(crate) byte: u64,
    /// Newlines between the start of the reader and `byte`.
    pub(crate) newlines: u64,
}

/// A buffered CSV reader of one file or byte range.
pub(crate) struct CsvLines {
    input: Box<dyn Read + Send>,
    /// The buffer: `buf[..filled]` holds the bytes from absolute offset `base`.
    pub(crate) buf: Vec<u8>,
    base: u64,
    filled: usize,
    scan: usize,
    eof: bool,
    /// Newlines before `buf[scan]`, since the start of the reader.
    newlines: u64,
    /// The position the next record is reported at.
    next_pos: Pos,
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
    /// Where the last record itself starts (its own line, after any blank lines before
    /// it), as opposed to the csv crate's position that [`CsvLines::next`] returns.
    pub(crate) record: Pos,
    /// The longest line (or quoted record) read; longer ones are [`Next::TooLong`].
    max_line: usize,
    /// The first bytes of the last [`Next::TooLong`] line.
    pub(crate) long_prefix: Vec<u8>,
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

impl CsvLines {
    /// A reader of `input`, whose first byte is at absolute offset `base`, up to `end`,
    /// reading `chunk` bytes at a time (a small chunk to read a header or probe a few
    /// lines; the buffer still grows for a longer line). With `skip_partial`, it first
    /// skips to just after the first newline (the start of the first line that begins in
    /// its range; `input` starts at `start - 1`).
    pub(crate) fn with_chunk(
        input: Box<dyn Read + Send>,
        base: u64,
        end: u64,
        skip_partial: bool,
        chunk: usize,
    ) -> io::Result<Self> {
        let mut r = CsvLines {
            input,
            buf: vec![0; chunk.max(1024)],
            base,
            filled: 0,
            scan: 0,
            eof: false,
            newlines: 0,
            next_pos: Pos { byte: base, newlines: 0 },
            end,
            core: csv_core::Reader::new(),
            out: vec![0; 1024],
            ends: vec![0; 64],
            nfields: 0,
            origin: base,
            commas: Vec::with_capacity(16),
            ascii: true,
            record: Pos::default(),
            max_line: usize::MAX,
            long_prefix: Vec::new(),
        };
        if skip_partial {
            loop {
                if let Some(i) = memchr::memchr(b'\n', &r.buf[r.scan..r.filled]) {
                    r.scan += i + 1;
                    break;
                }
                r.scan = r.filled;
                if r.eof {
                    break;
                }
                r.refill()?;
            }
            r.next_pos = Pos { byte: r.base + r.scan as u64, newlines: 0 };
            r.origin = r.next_pos.byte;
        }
        Ok(r)
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

    /// Stops before the first line starting at or after `end` (absolute).
    pub(crate) fn set_end(&mut self, end: u64) {
        self.end = end;
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

    /// The next record and its position. An I/O error leaves the reader where it was.
    pub(crate) fn next(&mut self) -> io::Result<(Next, Pos)> {
        loop {
            if self.base + self.scan as u64 >= self.end {
                return Ok((Next::End, self.next_pos));
            }
            // One pass over the line: its end, its commas, quotes, carriage returns and
            // whether it is ASCII.
            let start = self.scan;
            self.commas.clear();
            let (mut quotes, mut crs, mut high) = (0u32, 0u32, 0u8);
            let mut nl = None;
            for (i, &b) in self.buf[start..self.filled].iter().enumerate() {
                high |= b;
                if CLASS[b as usize] != 0 {
                    match b {
                        b',' => self.commas.push(i),
                        b'\n' => {
                            nl = Some(i);
                            break;
                        }
                        b'"' => quotes += 1,
                        _ => crs += 1,
                    }
                }
            }
            if nl.is_none() && !self.eof {
                if self.filled - start > self.max_line {
                    return self.skip_long_line();
                }
                self.refill()?;
                continue;
            }
            if nl.unwrap_or(self.filled - start) > self.max_line {
                return self.skip_long_line();
            }
            if self.scan == self.filled {
                return Ok((Next::End, self.next_pos));
            }
            self.ascii = high < 0x80;
            let line_end = nl.map_or(self.filled, |i| start + i);
            let crlf = line_end > start && self.buf[line_end - 1] == b'\r';
            let content_end = if crlf { line_end - 1 } else { line_end };
            self.record = Pos { byte: self.base + start as u64, newlines: self.newlines };
            if quotes > 0 || crs > crlf as u32 {
                return self.slow();
            }
            let content = &self.buf[start..content_end];
            if content.is_empty() {
                // A blank line: part of the next record's lead-in, as in the csv crate.
                self.scan = if nl.is_some() { line_end + 1 } else { line_end };
                self.newlines += nl.is_some() as u64;
                continue;
            }
            let pos = self.next_pos;
            if crlf {
                // The record ends at its `\r`; the `\n` leads in the next one.
                self.scan = content_end + 1;
            } else if nl.is_some() {
                self.scan = line_end + 1;
                self.newlines += 1;
            } else {
                self.scan = line_end;
            }
            self.next_pos = Pos { byte: self.base + self.scan as u64, newlines: self.newlines };
            return Ok((Next::Fast(start, content_end), pos));
        }
    }

    /// Skips the line at `scan`, longer than the maximum, to just after its newline (or
    /// the end of the input), keeping its first bytes in `long_prefix`.
    fn skip_long_line(&mut self) -> io::Result<(Next, Pos)> {
        let pos = self.next_pos;
        self.record = Pos { byte: self.base + self.scan as u64, newlines: self.newlines };
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
        self.next_pos = Pos { byte: self.base + self.scan as u64, newlines: self.newlines };
        Ok((Next::TooLong, pos))
    }

    /// Reads one record at `scan` with `csv_core`.
    fn slow(&mut self) -> io::Result<(Next, Pos)> {
        use csv_core::ReadRecordResult as R;
        self.core.reset();
        let (mut consumed, mut outlen, mut endlen) = (0usize, 0usize, 0usize);
        loop {
            let input = &self.buf[self.scan + consumed..self.filled];
            let (res, nin, nout, nend) =
                self.core.read_record(input, &mut self.out[outlen..], &mut self.ends[endlen..]);
            consumed += nin;
            outlen += nout;
            endlen += nend;
            if consumed > self.max_line {
                // An unclosed quote, or a record that is not one: skip its first line.
                return self.skip_long_line();
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
                            R::Record => return Ok(self.finish_slow(consumed, endlen)),
                            R::OutputFull => self.out.resize(self.out.len() * 2, 0),
                            R::OutputEndsFull => self.ends.resize(self.ends.len() * 2, 0),
                            R::End | R::InputEmpty => {
                                self.scan = self.filled;
                                return Ok((Next::End, self.next_pos));
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
                R::Record => return Ok(self.finish_slow(consumed, endlen)),
                R::End => {
                    self.scan = self.filled;
                    return Ok((Next::End, self.next_pos));
                }
            }
        }
    }

    fn finish_slow(&mut self, consumed: usize, nfields: usize) -> (Next, Pos) {
        let pos = self.next_pos;
        let end = (self.scan + consumed).min(self.filled);
        self.newlines += memchr::memchr_iter(b'\n', &self.buf[self.scan..end]).count() as u64;
        self.scan = end;
        self.nfields = nfields;
        self.next_pos = Pos { byte: self.base + self.scan as u64, newlines: self.newlines };
        (Next::Slow, pos)
    }
}

/// A reader of the lines of `path` that start in `[start, end)` (a gzip file: all of it),
/// reading `chunk` bytes at a time, with lines over [`crate::pipeline::MAX_LINE`] skipped
/// as [`Next::TooLong`].
pub(crate) fn open_range(path: &std::path::Path, start: u64, end: u64, chunk: usize) -> io::Result<CsvLines> {
    use std::io::{Seek, SeekFrom};
    let max = crate::pipeline::MAX_LINE;
    let mut file = std::fs::File::open(path)?;
    if super::is_gzip(path) {
        let raw: Box<dyn Read + Send> =
            Box::new(flate2::read::MultiGzDecoder::new(std::io::BufReader::with_capacity(1 << 16, file)));
        return Ok(CsvLines::with_chunk(raw, 0, u64::MAX, false, chunk)?.max_line(max));
    }
    if start == 0 {
        return Ok(CsvLines::with_chunk(Box::new(file), 0, end, false, chunk)?.max_line(max));
    }
    file.seek(SeekFrom::Start(start - 1))?;
    Ok(CsvLines::with_chunk(Box::new(file), start - 1, end, true, chunk)?.max_line(max))
}

/// The line number in `path` of a record at `pos` of a reader whose first line starts at
/// byte `origin`: the newlines before `origin` are counted once, into `prefix`, when first
/// needed (a dead letter of a byte range after the first).
pub(crate) fn line_number(path: &std::path::Path, prefix: &mut Option<u64>, origin: u64, pos: Pos) -> u64 {
    let before = match *prefix {
        Some(p) => p,
        None if origin == 0 => 0,
        None => *prefix.insert(super::count_newlines(path, origin).unwrap_or(0)),
    };
    before + 1 + pos.newlines
}
