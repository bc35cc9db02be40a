//! A CSV held in memory, cut into one byte range per thread at line starts, each parsed on
//! its own scoped thread, the results in input order (shared by the `funnel` and `rfm`
//! calculators; `#[path]`-included).
//!
//! Only for unquoted input: a quoted field may hold a line break, which would make cutting
//! at line starts unsafe, so callers hand input with a quote to their sequential reader.
#![allow(dead_code)]

/// The header row (without its line end) and the offset where the body starts.
pub(crate) fn header(data: &[u8]) -> (&[u8], usize) {
    let end = memchr::memchr(b'\n', data).unwrap_or(data.len());
    let line = data.get(..end).unwrap_or(&[]);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    (line, (end + 1).min(data.len()))
}

/// `threads` byte ranges covering `data[body..]`, each starting at a line start.
pub(crate) fn ranges(data: &[u8], body: usize, threads: usize) -> Vec<(usize, usize)> {
    let threads = threads.clamp(1, 64);
    let body = body.min(data.len());
    let mut cuts = vec![body];
    for k in 1..threads {
        let guess = body + (data.len() - body) * k / threads;
        let at = data
            .get(guess..)
            .and_then(|rest| memchr::memchr(b'\n', rest))
            .map_or(data.len(), |i| guess + i + 1);
        cuts.push(at.max(*cuts.last().unwrap_or(&body)));
    }
    cuts.push(data.len());
    cuts.windows(2)
        .filter_map(|w| match *w {
            [a, b] => Some((a, b)),
            _ => None,
        })
        .collect()
}

/// The 1-based line of a byte offset (for error messages only).
pub(crate) fn line_of(data: &[u8], offset: usize) -> usize {
    1 + memchr::memchr_iter(b'\n', data.get(..offset).unwrap_or(data)).count()
}

/// Runs `parse` on each range, the first on this thread and the others on scoped threads,
/// and returns the results in input order; the first failure in input order wins, as a
/// sequential reader would report it. `lost` stands for a thread that panicked.
pub(crate) fn in_parallel<T: Send, E: Send>(
    ranges: &[(usize, usize)],
    parse: impl Fn((usize, usize)) -> Result<T, E> + Sync,
    lost: impl Fn() -> E,
) -> Result<Vec<T>, E> {
    let parse = &parse;
    let results: Vec<Result<T, E>> = std::thread::scope(|s| {
        let handles: Vec<_> = ranges
            .iter()
            .skip(1)
            .map(|&r| s.spawn(move || parse(r)))
            .collect();
        let mut all = Vec::with_capacity(ranges.len());
        if let Some(&r) = ranges.first() {
            all.push(parse(r));
        }
        for h in handles {
            all.push(h.join().unwrap_or_else(|_| Err(lost())));
        }
        all
    });
    results.into_iter().collect()
}

/// Calls `row(offset, line, fields)` for each non-empty line of `data[from..to]` (which
/// starts at a line start), in order: the line's offset in `data`, its bytes without `\n` or
/// `\r\n`, and its comma-separated fields as ranges of the line (a line of no comma is one
/// field). Commas and line ends are searched eight bytes at a time in one pass, where a
/// `memchr` call per line and per field spent more time starting its search than searching
/// lines of forty bytes. The first error stops the scan.
pub(crate) fn for_each_row<E>(
    data: &[u8],
    (from, to): (usize, usize),
    fields: &mut Vec<(usize, usize)>,
    mut row: impl FnMut(usize, &[u8], &[(usize, usize)]) -> Result<(), E>,
) -> Result<(), E> {
    let to = to.min(data.len());
    let body = data.get(from.min(to)..to).unwrap_or(&[]);
    let mut line_start = 0usize;
    let mut field_start = 0usize;
    fields.clear();
    // A separator at `p` of `body`: a comma ends a field, a line end a line.
    let mut at = |p: usize, byte: u8, fields: &mut Vec<(usize, usize)>| -> Result<(), E> {
        if byte == b',' {
            fields.push((field_start - line_start, p - line_start));
            field_start = p + 1;
            return Ok(());
        }
        let mut end = p;
        if end > line_start && body.get(end - 1) == Some(&b'\r') {
            end -= 1;
        }
        let line = body.get(line_start..end).unwrap_or(&[]);
        if !line.is_empty() {
            fields.push((field_start.min(end) - line_start, end - line_start));
            row(from + line_start, line, fields)?;
        }
        fields.clear();
        line_start = p + 1;
        field_start = p + 1;
        Ok(())
    };
    let (words, tail) = body.as_chunks::<8>();
    for (i, w) in words.iter().enumerate() {
        let w = u64::from_le_bytes(*w);
        let mut m =
            zero_bytes(w ^ (u64::from(b',') * ONES)) | zero_bytes(w ^ (u64::from(b'\n') * ONES));
        while m != 0 {
            let k = (m.trailing_zeros() / 8) as usize;
            at(i * 8 + k, (w >> (8 * k)) as u8, fields)?;
            m &= m - 1;
        }
    }
    let base = words.len() * 8;
    for (k, &b) in tail.iter().enumerate() {
        if b == b',' || b == b'\n' {
            at(base + k, b, fields)?;
        }
    }
    // The last line, if it has no line end (an empty one, if it had, is skipped).
    at(body.len(), b'\n', fields)
}

const ONES: u64 = 0x0101_0101_0101_0101;
const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;

/// The high bit of each byte of `x` that is zero, and no other bit (exact: no carry
/// crosses a byte, as `(b & 0x7f) + 0x7f` stays below 0x100).
#[inline]
fn zero_bytes(x: u64) -> u64 {
    !(((x & LOW7).wrapping_add(LOW7)) | x | LOW7)
}

#[cfg(test)]
mod tests {
    use super::{for_each_row, ranges};
    use proptest::prelude::*;

    // The definition the scan is held to: a `memchr` for each line end, then for each comma.
    /// The lines of `data[from..to]` (which starts at a line start): each line's offset and its
    /// bytes without `\n` or `\r\n`. Empty lines are yielded too.
    struct Lines<'a> {
        data: &'a [u8],
        at: usize,
        to: usize,
    }

    fn lines(data: &[u8], (from, to): (usize, usize)) -> Lines<'_> {
        Lines {
            data,
            at: from,
            to: to.min(data.len()),
        }
    }

    impl<'a> Iterator for Lines<'a> {
        type Item = (usize, &'a [u8]);

        #[inline]
        fn next(&mut self) -> Option<(usize, &'a [u8])> {
            if self.at >= self.to {
                return None;
            }
            let start = self.at;
            let rest = self.data.get(start..self.to)?;
            let len = memchr::memchr(b'\n', rest).unwrap_or(rest.len());
            self.at = start + len + 1;
            let line = rest.get(..len)?;
            Some((start, line.strip_suffix(b"\r").unwrap_or(line)))
        }
    }

    /// Splits an unquoted line at its commas into `out` (ranges of `line`).
    #[inline]
    fn split(line: &[u8], out: &mut Vec<(usize, usize)>) {
        out.clear();
        let mut start = 0;
        for i in memchr::memchr_iter(b',', line) {
            out.push((start, i));
            start = i + 1;
        }
        out.push((start, line.len()));
    }

    /// The rows `for_each_row` gives, as owned lines and fields.
    type Rows = Vec<(usize, Vec<u8>, Vec<(usize, usize)>)>;

    fn by_scan(data: &[u8], range: (usize, usize)) -> Rows {
        let mut out = Vec::new();
        let mut fields = Vec::new();
        for_each_row::<()>(data, range, &mut fields, |at, line, f| {
            out.push((at, line.to_vec(), f.to_vec()));
            Ok(())
        })
        .unwrap();
        out
    }

    /// The rows by the definition: `lines`, empty ones skipped, each `split`.
    fn by_lines(data: &[u8], range: (usize, usize)) -> Rows {
        let mut fields = Vec::new();
        lines(data, range)
            .filter(|(_, line)| !line.is_empty())
            .map(|(at, line)| {
                split(line, &mut fields);
                (at, line.to_vec(), fields.clone())
            })
            .collect()
    }

    #[test]
    fn rows_fields_and_line_ends() {
        let data = b"a,b\r\n\n,x,\r\nlast,,";
        assert_eq!(
            by_scan(data, (0, data.len())),
            vec![
                (0, b"a,b".to_vec(), vec![(0, 1), (2, 3)]),
                (6, b",x,".to_vec(), vec![(0, 0), (1, 2), (3, 3)]),
                (11, b"last,,".to_vec(), vec![(0, 4), (5, 5), (6, 6)]),
            ]
        );
        assert!(by_scan(b"", (0, 0)).is_empty());
        assert!(by_scan(b"\r\n\n\r", (0, 4)).is_empty());
    }

    #[test]
    fn the_first_error_stops_the_scan() {
        let data = b"1\n2\n3\n";
        let mut seen = Vec::new();
        let got = for_each_row(data, (0, data.len()), &mut Vec::new(), |at, line, _| {
            seen.push(at);
            if line == b"2" { Err(at) } else { Ok(()) }
        });
        assert_eq!(got, Err(2));
        assert_eq!(seen, vec![0, 2]);
    }

    proptest! {
        /// Over any text of commas, line ends, carriage returns and other bytes, cut into
        /// any number of ranges, the one-pass scan finds the lines and fields `lines` and
        /// `split` find.
        #[test]
        fn equals_lines_then_split(
            bytes in proptest::collection::vec(
                prop_oneof![Just(b','), Just(b'\n'), Just(b'\r'), Just(b'a'), Just(0xC3u8), any::<u8>()],
                0..200,
            ),
            threads in 1usize..5,
        ) {
            for range in ranges(&bytes, 0, threads) {
                prop_assert_eq!(by_scan(&bytes, range), by_lines(&bytes, range));
            }
        }
    }
}
