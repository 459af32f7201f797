//! Input plumbing shared by the file sources: turning `--input` arguments into files and
//! telling their formats ([`expand_inputs`], [`Format`]), and the one-pass CSV record
//! reader over bytes. The sources themselves are the pipeline's
//! ([`crate::pipeline::Files`], [`crate::pipeline::Tcp`]).

pub(crate) mod csv_lines;
mod csv_ranges;
mod inputs;

pub use inputs::{expand_inputs, expand_inputs_with, is_gzip, is_stdin, Format, InputError, STDIN};

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
