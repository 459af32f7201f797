//! Where the byte ranges of a large CSV file begin: record boundaries that both neighbours
//! of every split agree on, so that each byte of the file is read by exactly one range.
//!
//! A file is split at fixed offsets (`pipeline::files::byte_ranges`); a split `s` is moved
//! to its **boundary**: the first record start at or after `s` that follows a newline, as
//! [`CsvLines`](super::csv_lines::CsvLines) would find it reading the file from its start.
//! Range `i` then reads exactly from the boundary of its start to the boundary of its end.
//! A newline inside a quoted field is never a boundary, so a quoted field is never read
//! twice (once whole, once its tail as if it were a record).
//!
//! The boundaries come from one pass over the file (per process and file, cached) that
//! follows `csv_core`'s quoting rules and the reader's bounds on a record:
//!
//! - a quote opens a quoted field only at the start of a field (after a comma, a line
//!   break or at the start of a record); elsewhere it is a literal (as in `csv_core`); in a
//!   quoted field `""` is a quote and a lone `"` closes the field;
//! - a line longer than [`MAX_LINE`] bytes is skipped whole (its quotes do not count);
//! - a record longer than [`MAX_LINE`] bytes, spanning more than [`MAX_RECORD_LINES`]
//!   lines or with a quote still open at the end of the file, is a dead letter and reading
//!   resumes at the line after its first line.
//!
//! The pass mostly looks for quotes with `memchr` (several GB/s): a file without quotes
//! costs one read of it; for a file with quotes, the records with quotes are followed
//! quote by quote. For a valid RFC 4180 file the boundaries are record boundaries of the
//! `csv` crate; for any file, ranges never overlap.

use super::MAX_LINE;
use std::collections::HashMap;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

/// The most lines a CSV record may span (its quoted fields hold at most this many minus one
/// newlines): a quote left open does not swallow the lines after it.
pub const MAX_RECORD_LINES: u64 = 64;

/// Bytes read at a time by the boundary pass.
const CHUNK: usize = 8 << 20;

/// Bytes read on each side of a split to find its boundary without the pass
/// ([`Boundaries::near`]).
const NEAR: u64 = 64 << 10;

/// Reads into `buf` from `offset` until it is full or the file ends; returns the bytes read.
fn read_at(file: &std::fs::File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    use std::os::unix::fs::FileExt;
    let mut n = 0;
    while n < buf.len() {
        match file.read_at(&mut buf[n..], offset + n as u64) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// The quotes that leave `record` open: the quote opening its first quoted field that
/// contains a newline, and the one of a field still open at its end (same rules as the
/// boundary pass and `csv_core`).
pub(crate) fn open_quote(record: &[u8]) -> (Option<usize>, Option<usize>) {
    let mut spanning = None;
    let mut open = None;
    let mut field_start = true;
    let mut i = 0;
    while i < record.len() {
        let b = record[i];
        match open {
            Some(q) => {
                if b == b'"' {
                    if record.get(i + 1) == Some(&b'"') {
                        i += 1;
                    } else {
                        open = None;
                        field_start = false;
                    }
                } else if b == b'\n' && spanning.is_none() {
                    spanning = Some(q);
                }
            }
            None => {
                if b == b'"' && field_start {
                    open = Some(i);
                }
                field_start = matches!(b, b',' | b'\n' | b'\r');
            }
        }
        i += 1;
    }
    (spanning, open)
}

/// The boundary of split points of one file, found by one forward pass; cached per file.
struct Boundaries {
    /// The file, read forward from `base`.
    file: std::fs::File,
    /// `buf[..len]` holds the file's bytes from `base`.
    buf: Vec<u8>,
    base: u64,
    len: usize,
    eof: bool,
    /// The start of the record being scanned (unquoted state at `p`).
    rs: u64,
    /// The scan position: `[rs, p)` holds no newline and no opening quote.
    p: u64,
    /// Whether the pass reached the end of the file.
    done: bool,
    /// Boundaries found: split → boundary (`u64::MAX`: none before the end).
    known: std::collections::BTreeMap<u64, u64>,
    /// Whether a split's boundary is first looked for near it ([`Boundaries::near`]); the
    /// tests turn it off to compare with the pass alone.
    near: bool,
}

/// The outcome of following a record that has a quote opening a field.
enum Framed {
    /// The record ends with the line break at this offset.
    Ends(u64),
    /// The record ends at the end of the file.
    AtEof,
    /// Too long, too many lines, or left open at the end: resume after its first line.
    Skipped,
}

impl Boundaries {
    fn open(path: &Path) -> io::Result<Self> {
        let mut b = Boundaries {
            file: std::fs::File::open(path)?,
            buf: Vec::new(),
            base: 0,
            len: 0,
            eof: false,
            rs: 0,
            p: 0,
            done: false,
            known: Default::default(),
            near: true,
        };
        // Nothing is read yet: most boundaries are found from the bytes near their split.
        let mut head = [0u8; 3];
        if read_at(&b.file, &mut head, 0)? == 3 && head == *b"\xEF\xBB\xBF" {
            b.restart(3)?;
        }
        Ok(b)
    }

    fn end(&self) -> u64 {
        self.base + self.len as u64
    }

    fn byte(&self, at: u64) -> u8 {
        self.buf[(at - self.base) as usize]
    }

    /// `buf[from..to]` in absolute offsets (clamped to what the window holds).
    fn slice(&self, from: u64, to: u64) -> &[u8] {
        let a = (from - self.base) as usize;
        let b = ((to.min(self.end())) - self.base) as usize;
        &self.buf[a..b.max(a)]
    }

    /// Makes the window start at or before `at` and hold `[at, at + want)` (or up to the
    /// end of the file), dropping the bytes before `at` if it has to read.
    fn ensure(&mut self, at: u64, want: usize) -> io::Result<()> {
        if self.eof || at + want as u64 <= self.end() {
            return Ok(());
        }
        let off = (at - self.base) as usize;
        self.buf.copy_within(off..self.len, 0);
        self.len -= off;
        self.base = at;
        let cap = (want + CHUNK).max(self.len + CHUNK / 2);
        if self.buf.len() < cap {
            self.buf.resize(cap, 0);
        }
        while self.len < self.buf.len() {
            match self.file.read(&mut self.buf[self.len..]) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(n) => self.len += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// The first record start at or after `s` that follows a newline (`u64::MAX`: none).
    fn boundary(&mut self, s: u64) -> io::Result<u64> {
        if s == 0 {
            return Ok(0);
        }
        if let Some((_, &b)) = self.known.range(..=s).next_back().filter(|(_, &b)| b >= s) {
            // The first candidate at or after an earlier split is also the first after `s`.
            return Ok(b);
        }
        if let Some(&b) = self.known.get(&s) {
            return Ok(b);
        }
        if self.near {
            if let Some(b) = self.near(s)? {
                self.known.insert(s, b);
                return Ok(b);
            }
        }
        let from = self.known.values().copied().filter(|&b| b <= s).max();
        if self.p >= s || self.done {
            // The pass went past `s`: start again from the last boundary before `s`.
            self.restart(from.unwrap_or(0))?;
        } else if let Some(from) = from.filter(|&b| b > self.p + (2 * MAX_LINE + CHUNK) as u64) {
            // A boundary found near an earlier split is far ahead of the pass: start there.
            self.restart(from)?;
        }
        let b = self.scan_to(s)?;
        self.known.insert(s, b);
        Ok(b)
    }

    /// The boundary of `s` from the bytes around it alone, when they prove it (`None`: the
    /// pass has to find it).
    ///
    /// The proof: the [`NEAR`] bytes before `s`, after their last quote, hold more than
    /// [`MAX_RECORD_LINES`] newlines. Then each of these newlines ends a record, whatever
    /// came before. A record still open at such a newline is inside a quoted field that
    /// opened before the quote-free bytes and cannot close within them; it spans more than
    /// [`MAX_RECORD_LINES`] lines, so it is skipped to the end of its first line, which
    /// ends at or before the first of these newlines, and reading resumes there, outside
    /// any quote (each skip resumes further on, so this ends). From the last of these
    /// newlines on, without a quote, the boundary is after the first newline at or after
    /// `s - 1`: the lines are far shorter than [`MAX_LINE`].
    fn near(&self, s: u64) -> io::Result<Option<u64>> {
        let Some(from) = s.checked_sub(NEAR).filter(|&f| f > 0) else { return Ok(None) };
        let mut buf = vec![0u8; 2 * NEAR as usize];
        let got = read_at(&self.file, &mut buf, from)?;
        let split = NEAR as usize;
        if got < split {
            return Ok(None);
        }
        let (before, after) = (&buf[..split], &buf[split..got]);
        let quote_free = &before[memchr::memrchr(b'"', before).map_or(0, |q| q + 1)..];
        if memchr::memchr_iter(b'\n', quote_free).count() <= MAX_RECORD_LINES as usize {
            return Ok(None);
        }
        if before.last() == Some(&b'\n') {
            return Ok(Some(s));
        }
        Ok(match memchr::memchr2(b'\n', b'"', after) {
            Some(i) if after[i] == b'\n' => Some(s + i as u64 + 1),
            // A quote on the line across `s`, or no end of line near it.
            _ => None,
        })
    }

    /// Resumes the pass at `at`, a record start (0 or a boundary found before).
    fn restart(&mut self, at: u64) -> io::Result<()> {
        use std::io::{Seek, SeekFrom};
        self.file.seek(SeekFrom::Start(at))?;
        self.base = at;
        self.len = 0;
        self.eof = false;
        self.done = false;
        self.rs = at;
        self.p = at;
        if at == 0 {
            self.ensure(0, 3)?;
            if self.buf[..self.len].starts_with(b"\xEF\xBB\xBF") {
                self.rs = 3;
                self.p = 3;
            }
        }
        Ok(())
    }

    /// Moves the record start to just after the newline at `n`; `Some(n + 1)` if that is
    /// the boundary of `s`.
    fn new_record_after(&mut self, n: u64, s: u64) -> Option<u64> {
        self.rs = n + 1;
        self.p = n + 1;
        (n + 1 >= s).then_some(n + 1)
    }

    /// Scans forward from `p` to the boundary of `s` (`p <= s`).
    fn scan_to(&mut self, s: u64) -> io::Result<u64> {
        loop {
            self.ensure(self.rs, 2 * MAX_LINE + 2)?;
            if self.p - self.rs > MAX_LINE as u64 {
                // A line longer than the maximum: skipped whole, its quotes do not count.
                match self.next_newline(self.p)? {
                    Some(n) => match self.new_record_after(n, s) {
                        Some(b) => return Ok(b),
                        None => continue,
                    },
                    None => return Ok(self.finish()),
                }
            }
            let end = self.end();
            let hay = self.slice(self.p, end);
            let q = memchr::memchr(b'"', hay).map(|i| self.p + i as u64);
            let zone_end = q.unwrap_or(end);
            // Every newline before the next quote ends a record.
            let from = self.p.max(s.saturating_sub(1));
            if from < zone_end {
                if let Some(i) = memchr::memchr(b'\n', self.slice(from, zone_end)) {
                    let n = from + i as u64;
                    self.new_record_after(n, s);
                    return Ok(n + 1);
                }
            }
            if let Some(i) = memchr::memrchr(b'\n', self.slice(self.p, zone_end)) {
                self.rs = self.p + i as u64 + 1;
            }
            self.p = zone_end;
            let Some(q) = q else {
                if self.eof {
                    return Ok(self.finish());
                }
                continue;
            };
            if q - self.rs > MAX_LINE as u64 {
                continue; // the long-line case above
            }
            let opens = q == self.rs || matches!(self.byte(q - 1), b',' | b'\r');
            if !opens {
                self.p = q + 1;
                continue;
            }
            // The record's first line must be within the maximum, else it is skipped whole.
            let limit = self.rs + MAX_LINE as u64;
            let first_nl = memchr::memchr(b'\n', self.slice(q, limit + 1)).map(|i| q + i as u64);
            let first_nl = match first_nl {
                Some(n) => n,
                None if self.eof && self.end() <= limit => return Ok(self.finish()),
                None => {
                    self.p = limit + 1;
                    continue;
                }
            };
            match self.frame(q) {
                Framed::Ends(t) => {
                    if self.byte(t) == b'\n' {
                        if let Some(b) = self.new_record_after(t, s) {
                            return Ok(b);
                        }
                    } else {
                        // Ended by a lone `\r`: the next record starts after it.
                        self.rs = t + 1;
                        self.p = t + 1;
                    }
                }
                Framed::AtEof => return Ok(self.finish()),
                Framed::Skipped => {
                    if let Some(b) = self.new_record_after(first_nl, s) {
                        return Ok(b);
                    }
                }
            }
        }
    }

    /// The end of the pass: no boundary after this point.
    fn finish(&mut self) -> u64 {
        self.done = true;
        u64::MAX
    }

    /// The first newline at or after `from` (reading on as needed).
    fn next_newline(&mut self, mut from: u64) -> io::Result<Option<u64>> {
        loop {
            self.ensure(from, 1)?;
            if let Some(i) = memchr::memchr(b'\n', self.slice(from, self.end())) {
                return Ok(Some(from + i as u64));
            }
            from = self.end();
            if self.eof {
                return Ok(None);
            }
        }
    }

    /// Follows the record starting at `rs` from its quote at `q`, which opens a field (the
    /// window holds `[rs, rs + MAX_LINE]`, or up to the end of the file).
    fn frame(&self, q: u64) -> Framed {
        // The record with its line break may be at most MAX_LINE bytes.
        let limit = (self.rs + MAX_LINE as u64).min(self.end());
        let mut i = q + 1;
        let mut quoted = true;
        let mut newlines = 0u64;
        loop {
            if quoted {
                let hay = self.slice(i, limit);
                let Some(c) = memchr::memchr(b'"', hay) else { return Framed::Skipped };
                newlines += memchr::memchr_iter(b'\n', &hay[..c]).count() as u64;
                if newlines >= MAX_RECORD_LINES {
                    return Framed::Skipped;
                }
                let c = i + c as u64;
                if c + 1 < self.end() && self.byte(c + 1) == b'"' {
                    i = c + 2;
                } else {
                    quoted = false;
                    i = c + 1;
                }
            } else {
                match memchr::memchr3(b'"', b'\n', b'\r', self.slice(i, limit)) {
                    None if self.eof && limit == self.end() => return Framed::AtEof,
                    None => return Framed::Skipped,
                    Some(x) => {
                        let x = i + x as u64;
                        match self.byte(x) {
                            b'"' => {
                                quoted = self.byte(x - 1) == b',';
                                i = x + 1;
                            }
                            _ => return Framed::Ends(x),
                        }
                    }
                }
            }
        }
    }
}

/// The identity of a file's contents for the cache: a rewritten file is scanned again.
type FileKey = (PathBuf, u64, u64, i64, i64);

fn file_key(path: &Path) -> io::Result<FileKey> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path)?;
    Ok((path.to_path_buf(), m.ino(), m.len(), m.mtime(), m.mtime_nsec()))
}

type Cache = Mutex<HashMap<FileKey, Arc<Mutex<Boundaries>>>>;

/// The boundaries of the files of this process: the workers of a process scan a file once.
fn cache() -> &'static Cache {
    static CACHE: OnceLock<Cache> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// The boundary of split `s` of the CSV file at `path`: the first record start at or
/// after `s` that follows a newline, as the reader reading the file from its start finds
/// it (`u64::MAX`: none before the end of the file). `0` and `u64::MAX` are their own.
pub(crate) fn record_boundary(path: &Path, s: u64) -> io::Result<u64> {
    if s == 0 || s == u64::MAX {
        return Ok(s);
    }
    let key = file_key(path)?;
    let entry = {
        let mut map = cache().lock().unwrap_or_else(|e| e.into_inner());
        if map.len() > 4096 {
            map.clear();
        }
        match map.get(&key) {
            Some(e) => e.clone(),
            None => {
                let e = Arc::new(Mutex::new(Boundaries::open(path)?));
                map.insert(key, e.clone());
                e
            }
        }
    };
    let mut b = entry.lock().unwrap_or_else(|e| e.into_inner());
    b.boundary(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The boundaries of every split of `text` (written to a file), found by a fresh pass.
    fn boundaries(text: &[u8], splits: &[u64]) -> Vec<u64> {
        let path = std::env::temp_dir().join(format!("hw-bounds-{}-{}", std::process::id(), text.len()));
        std::fs::write(&path, text).unwrap();
        let mut b = Boundaries::open(&path).unwrap();
        let out = splits.iter().map(|&s| b.boundary(s).unwrap()).collect();
        let _ = std::fs::remove_file(&path);
        out
    }

    #[test]
    fn a_newline_in_a_quoted_field_is_never_a_boundary() {
        let text = b"a,b\n1,\"x\ny\"\n2,z\n";
        // Splits inside the quoted field move to the line after it.
        assert_eq!(boundaries(text, &[1, 4, 6, 8, 9, 12, 13, 17]), vec![4, 4, 12, 12, 12, 12, 16, u64::MAX]);
        // A quote in the middle of an unquoted field is a literal, as in csv_core.
        assert_eq!(boundaries(b"a,b\"c\nd,e\n", &[2]), vec![6]);
        // A quote left open: the record is skipped to the end of its first line.
        let mut open = b"a,\"b\n".to_vec();
        for _ in 0..100 {
            open.extend_from_slice(b"c,d\n");
        }
        assert_eq!(boundaries(&open, &[3, 7]), vec![5, 9]);
    }

    /// Boundaries found near their splits are the pass's, in a file with quoted fields
    /// across lines, quotes left open, records over the line bound, literal quotes and
    /// CRLF lines between long runs of plain lines.
    #[test]
    fn boundaries_found_near_the_splits_are_the_passes() {
        let mut text = Vec::new();
        let mut x = 7u64;
        let mut next = || {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            x >> 33
        };
        let mut i = 0u64;
        while text.len() < 1 << 20 {
            i += 1;
            let line = match next() % 4000 {
                0 => format!("{i},\"two\nlines\",1\n"),
                1 => format!("{i},\"a, b\",\"c\"\"d\"\n"),
                2 => format!("{i},x\"y,3\n"),
                3 => format!("{i},y,4\r\n"),
                4 => format!("{i},\"open\n"),
                5 => format!("{i},\"{}\"\n", "many\n".repeat(70)),
                6 => format!("{i},\"{}\",5\n", "l\n".repeat(40)),
                _ => format!("{i},plain,{}\n", next() % 100_000),
            };
            text.extend_from_slice(line.as_bytes());
        }
        let path = std::env::temp_dir().join(format!("hw-bounds-near-{}", std::process::id()));
        std::fs::write(&path, &text).unwrap();
        let splits: Vec<u64> = (1..).map(|k| k * 1009).take_while(|&s| s < text.len() as u64 + 10).collect();
        let mut pass = Boundaries::open(&path).unwrap();
        pass.near = false;
        let want: Vec<u64> = splits.iter().map(|&s| pass.boundary(s).unwrap()).collect();
        let mut b = Boundaries::open(&path).unwrap();
        let near = splits.iter().filter(|&&s| b.near(s).unwrap().is_some()).count();
        assert!(near > splits.len() / 2, "{near} of {} found near their split", splits.len());
        let got: Vec<u64> = splits.iter().map(|&s| b.boundary(s).unwrap()).collect();
        assert_eq!(got, want);
        // In another order, with the pass and the shortcut interleaved.
        let mut b = Boundaries::open(&path).unwrap();
        for k in (0..splits.len()).rev().step_by(3).chain((0..splits.len()).step_by(2)) {
            assert_eq!(b.boundary(splits[k]).unwrap(), want[k], "split {}", splits[k]);
        }
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn the_pass_restarts_for_an_earlier_split() {
        let text = b"a\n\"q\nq\"\nb\nc\n";
        assert_eq!(boundaries(text, &[9, 3, 1, 11]), vec![10, 8, 2, 12]);
    }
}
