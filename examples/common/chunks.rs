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

/// The lines of `data[from..to]` (which starts at a line start): each line's offset and its
/// bytes without `\n` or `\r\n`. Empty lines are yielded too.
pub(crate) struct Lines<'a> {
    data: &'a [u8],
    at: usize,
    to: usize,
}

pub(crate) fn lines(data: &[u8], (from, to): (usize, usize)) -> Lines<'_> {
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
pub(crate) fn split(line: &[u8], out: &mut Vec<(usize, usize)>) {
    out.clear();
    let mut start = 0;
    for i in memchr::memchr_iter(b',', line) {
        out.push((start, i));
        start = i + 1;
    }
    out.push((start, line.len()));
}
