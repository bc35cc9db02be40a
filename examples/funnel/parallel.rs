//! The parallel readers. An unquoted CSV export in memory is cut into one byte range per
//! thread at line starts (`common/chunks.rs`), and a Parquet file into one share of its row
//! groups per thread (`common/parquet.rs`). Each thread checks and parses its rows into a
//! [`Part`]: its own codes for event names and breakdown values, first seen first, and its
//! rows' patient ids scattered into 256 partitions by a hash. The threads then number the
//! patients partition by partition, each partition's table small enough to stay in cache
//! (every id lives in one partition, so nothing needs merging), and map the rows' local
//! codes to global ones. The codes and every message are those of the sequential reader;
//! patients are numbered in another order, which no answer depends on.
//!
//! Input with a quote anywhere goes to the sequential reader instead: a quoted field may
//! hold a line break, which would make cutting at line starts unsafe.

use std::collections::HashMap;
use std::str::FromStr;

use clinic_ops::metrics::event::{JourneyEventKind, JourneyStage};
use clinic_ops::metrics::funnel::Dimension;

use crate::chunks;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::ids::{IdMap, PARTITIONS, ShortIds, partition, short_key};
use crate::load::{Columns, Layout, layout, parse_ts};
use crate::{Args, cli, pq};

/// One thread's rows, with its own codes for patients, event names and breakdown values.
#[derive(Default)]
pub(crate) struct Part {
    /// Each partition's short ids, with their rows in this part.
    keys: Vec<Vec<(u64, u64, u32)>>,
    /// Ids of 16 bytes or more, with their rows.
    long: Vec<(u32, Box<[u8]>)>,
    kind: Vec<u32>,
    at: Vec<i64>,
    dim: Vec<u32>,
    /// Local event names, first seen first, each with where it was first seen (a byte
    /// offset or a line, for a message).
    kinds: Vec<(Box<[u8]>, usize)>,
    dims: Vec<Box<[u8]>>,
    kind_codes: IdMap<u32>,
    dim_codes: IdMap<u32>,
    /// The last event's code: exports often repeat an event on adjacent rows. Its name is
    /// `kinds[code]`, so that a change of event costs a lookup, not an allocation.
    last_kind: Option<u32>,
}

/// Bad input at a position: a byte offset of the CSV (the start of its line), or a line
/// of a Parquet file.
type Bad = (usize, String);

impl Part {
    fn reserve(&mut self, rows: usize, dim: bool) {
        if self.keys.is_empty() {
            self.keys = (0..PARTITIONS)
                .map(|_| Vec::with_capacity(rows / PARTITIONS + rows / PARTITIONS / 8 + 16))
                .collect();
        }
        self.kind.reserve(rows);
        self.at.reserve(rows);
        if dim {
            self.dim.reserve(rows);
        }
    }

    /// Adds a checked row found at `pos`.
    #[inline]
    fn push(
        &mut self,
        p: &[u8],
        e: &[u8],
        ts: i64,
        d: Option<&[u8]>,
        pos: usize,
    ) -> Result<(), Bad> {
        let row = u32::try_from(self.at.len())
            .map_err(|_| (pos, "more than 2^32 rows for one reader thread".to_owned()))?;
        match short_key(p) {
            Some((lo, hi)) => {
                if self.keys.is_empty() {
                    self.reserve(0, false);
                }
                if let Some(keys) = self.keys.get_mut(partition(lo, hi)) {
                    keys.push((lo, hi, row));
                }
            }
            None => self.long.push((row, Box::from(p))),
        }
        let last = self.last_kind.filter(|&c| {
            self.kinds
                .get(c as usize)
                .is_some_and(|(name, _)| **name == *e)
        });
        let kind = match last {
            Some(code) => code,
            None => {
                let next = self.kinds.len() as u32;
                let code = match self.kind_codes.get(e) {
                    Some(&c) => c,
                    None => {
                        self.kind_codes.insert(Box::from(e), next);
                        self.kinds.push((Box::from(e), pos));
                        next
                    }
                };
                self.last_kind = Some(code);
                code
            }
        };
        self.kind.push(kind);
        self.at.push(ts);
        if let Some(d) = d {
            let next = self.dims.len() as u32;
            let code = match self.dim_codes.get(d) {
                Some(&c) => c,
                None => {
                    self.dim_codes.insert(Box::from(d), next);
                    self.dims.push(Box::from(d));
                    next
                }
            };
            self.dim.push(code);
        }
        Ok(())
    }
}

/// The checks every row gets, on either input: non-empty patient and event, whole-second
/// timestamp (already parsed by the caller), an amount that is a number.
#[inline]
fn check(p: &[u8], e: &[u8], amount: Option<&[u8]>) -> Result<(), String> {
    if p.is_empty() {
        return Err("patient_id is empty".into());
    }
    if e.is_empty() {
        return Err("event is empty".into());
    }
    if let Some(a) = amount
        && !a.is_empty()
    {
        let s = std::str::from_utf8(a).ok();
        if s.and_then(|s| rust_decimal::Decimal::from_str(s.trim()).ok())
            .is_none()
        {
            return Err(format!(
                "amount {:?} is not a number",
                String::from_utf8_lossy(a)
            ));
        }
    }
    Ok(())
}

fn bad_ts(t: &[u8]) -> String {
    format!(
        "timestamp {:?} is not whole Unix seconds",
        String::from_utf8_lossy(t)
    )
}

/// Parses the lines of `data[from..to]` (which starts at a line start).
fn parse_part(data: &[u8], range: (usize, usize), lay: Layout) -> Result<Part, Bad> {
    let mut part = Part::default();
    part.reserve((range.1 - range.0) / 32, lay.dim.is_some());
    let mut fields: Vec<(usize, usize)> = Vec::with_capacity(lay.width + 1);
    // Most exports are ASCII: one check for the range, and a line's own check only if not.
    let ascii = data.get(range.0..range.1).is_some_and(<[u8]>::is_ascii);
    chunks::for_each_row(data, range, &mut fields, |at, line, fields| {
        let bad = |why: String| (at, why);
        if !ascii && std::str::from_utf8(line).is_err() {
            return Err(bad("text is not UTF-8".into()));
        }
        if fields.len() != lay.width {
            return Err(bad(format!(
                "{} fields, the header has {}",
                fields.len(),
                lay.width
            )));
        }
        let field = |i: usize| {
            fields
                .get(i)
                .and_then(|&(a, b)| line.get(a..b))
                .unwrap_or(&[])
        };
        let (p, e, t) = (field(lay.patient), field(lay.event), field(lay.time));
        if p.is_empty() {
            return Err(bad("patient_id is empty".into()));
        }
        if e.is_empty() {
            return Err(bad("event is empty".into()));
        }
        let ts = parse_ts(t).ok_or_else(|| bad(bad_ts(t)))?;
        check(p, e, lay.amount.map(field)).map_err(bad)?;
        part.push(p, e, ts, lay.dim.map(field), at)
    })?;
    Ok(part)
}

/// What the parallel reader made of an input.
pub(crate) enum Parallel {
    Read(Columns),
    /// The input is empty or holds a quote: the sequential reader's, given back.
    Sequential(cli::Input),
}

/// Reads an unquoted export held in memory on `threads` threads. The input is freed once
/// its rows are parsed, before the columns are built, which keeps the peak under 1 GB on a
/// 10-million-row export.
pub(crate) fn load_parallel(
    data: cli::Input,
    args: &Args,
    threads: usize,
) -> Result<Parallel, (usize, String)> {
    if data.is_empty() || memchr::memchr(b'"', &data).is_some() {
        return Ok(Parallel::Sequential(data));
    }
    let (header, body) = chunks::header(&data);
    if std::str::from_utf8(header).is_err() {
        return Err((1, "text is not UTF-8".to_owned()));
    }
    let lay = layout(header, args)?;
    let ranges = chunks::ranges(&data, body, threads);
    let parts = chunks::in_parallel(
        &ranges,
        |r| parse_part(&data, r, lay),
        || (0, "a parser thread failed".to_owned()),
    )
    .map_err(|(offset, why)| (chunks::line_of(&data, offset), why))?;
    let codes = codes(&parts, |offset| chunks::line_of(&data, offset))?;
    drop(data);
    columns(parts, codes).map(Parallel::Read)
}

/// Reads the columns of a Parquet file, one share of its row groups per thread, with the
/// checks and messages of the CSV reader (`line N` is row N - 2, 0-based).
pub(crate) fn load_parquet(path: &str, args: &Args, threads: usize) -> Result<Columns, pq::Fail> {
    // Only the columns this run reads: the breakdown's, and amount (checked, as in a CSV).
    let dim = match args.breakdown {
        Some(Dimension::Channel) => Some("channel"),
        Some(Dimension::Doctor) => Some("doctor"),
        Some(Dimension::Clinic) => Some("clinic"),
        _ => None,
    };
    let wanted: Vec<&str> = ["patient_id", "event", "timestamp"]
        .into_iter()
        .chain(dim)
        .chain(["amount"])
        .collect();
    let file = pq::open(path, &wanted).map_err(pq::Fail::File)?;
    let lay = layout(file.header().as_bytes(), args).map_err(|(l, why)| pq::Fail::Line(l, why))?;
    let parts: Vec<(Part, Scratch)> =
        file.scan(threads, |(part, s): &mut (Part, Scratch), b| {
            if part.keys.is_empty() {
                part.reserve(file.rows() / threads.max(1), lay.dim.is_some());
            }
            let col = |k: usize| b.col(k);
            let (cp, ce, ct) = (col(lay.patient), col(lay.event), col(lay.time));
            let (cd, ca) = (lay.dim.and_then(col), lay.amount.and_then(col));
            for i in 0..b.rows {
                let line = b.line(i);
                let bad = |why: String| pq::Fail::Line(line, why);
                let text = |c: Option<&pq::Col<'_>>,
                            scratch: &'_ mut Vec<u8>|
                 -> Result<Vec<u8>, pq::Fail> {
                    match c {
                        Some(c) => c.text(i, scratch).map(<[u8]>::to_vec).map_err(bad),
                        None => Ok(Vec::new()),
                    }
                };
                // Text cells are read in place; other types through their text, rarely.
                let p_owned;
                let p = match cp.and_then(|c| c.bytes(i)) {
                    Some(p) => p,
                    None => {
                        p_owned = text(cp, &mut s.0)?;
                        &p_owned[..]
                    }
                };
                let e_owned;
                let e = match ce.and_then(|c| c.bytes(i)) {
                    Some(e) => e,
                    None => {
                        e_owned = text(ce, &mut s.1)?;
                        &e_owned[..]
                    }
                };
                for f in [p, e] {
                    if !f.is_ascii() && std::str::from_utf8(f).is_err() {
                        return Err(bad("text is not UTF-8".into()));
                    }
                }
                if p.is_empty() {
                    return Err(bad("patient_id is empty".into()));
                }
                if e.is_empty() {
                    return Err(bad("event is empty".into()));
                }
                let ts = match ct.and_then(|c| c.integer(i)) {
                    // i64::MIN has no whole-seconds text the CSV reader takes.
                    Some(v) if v != i64::MIN => v,
                    _ => {
                        let t = text(ct, &mut s.2)?;
                        parse_ts(&t).ok_or_else(|| bad(bad_ts(&t)))?
                    }
                };
                let amount = match ca {
                    Some(c @ (pq::Col::Text(_) | pq::Col::Dict(..))) => {
                        Some(text(Some(c), &mut s.3)?)
                    }
                    _ => None,
                };
                check(p, e, amount.as_deref()).map_err(bad)?;
                let d_owned;
                let d = match cd {
                    Some(c) => Some(match c.bytes(i) {
                        Some(d) => d,
                        None => {
                            d_owned = text(Some(c), &mut s.4)?;
                            &d_owned[..]
                        }
                    }),
                    None => None,
                };
                if let Some(d) = d
                    && !d.is_ascii()
                    && std::str::from_utf8(d).is_err()
                {
                    return Err(bad("text is not UTF-8".into()));
                }
                part.push(p, e, ts, d, line)
                    .map_err(|(l, why)| pq::Fail::Line(l, why))?;
            }
            Ok(())
        })?;
    let parts: Vec<Part> = parts.into_iter().map(|(p, _)| p).collect();
    let codes = codes(&parts, |line| line).map_err(|(l, why)| pq::Fail::Line(l, why))?;
    columns(parts, codes).map_err(|(l, why)| pq::Fail::Line(l, why))
}

/// Scratch space for cells that are not text.
#[derive(Default)]
struct Scratch(Vec<u8>, Vec<u8>, Vec<u8>, Vec<u8>, Vec<u8>);

/// The first `n` items (or all there are) and the rest.
fn cut<T>(items: &mut [T], n: usize) -> (&mut [T], &mut [T]) {
    let n = n.min(items.len());
    items.split_at_mut(n)
}

/// The global event and breakdown codes, and each part's map from its local ones.
struct Codes {
    kinds: HashMap<String, u32>,
    seen: IdMap<u32>,
    dim_names: Vec<String>,
    kind_maps: Vec<Vec<u32>>,
    dim_maps: Vec<Vec<u32>>,
}

/// Codes the parts' event names and breakdown values in row order; `line` turns a part's
/// position into a line number.
fn codes(parts: &[Part], line: impl Fn(usize) -> usize) -> Result<Codes, (usize, String)> {
    let mut kinds: HashMap<String, u32> = HashMap::new();
    for s in JourneyStage::ALL {
        kinds.insert(s.code().to_owned(), JourneyEventKind::stage(s).code());
    }
    let mut seen: IdMap<u32> = IdMap::default();
    let mut dims: IdMap<u32> = IdMap::default();
    let mut dim_names = Vec::new();
    let mut kind_maps = Vec::with_capacity(parts.len());
    let mut dim_maps = Vec::with_capacity(parts.len());
    for part in parts {
        let mut kind_map = Vec::with_capacity(part.kinds.len());
        for (e, pos) in &part.kinds {
            let code = match seen.get(&e[..]) {
                Some(&c) => c,
                None => {
                    let name = String::from_utf8_lossy(e).into_owned();
                    let custom = kinds.len() as u32;
                    let code = match kinds.get(&name) {
                        Some(&c) => c,
                        None => {
                            let c = JourneyEventKind::custom(custom)
                                .map_err(|err| (line(*pos), err.to_string()))?
                                .code();
                            kinds.insert(name, c);
                            c
                        }
                    };
                    seen.insert(e.clone(), code);
                    code
                }
            };
            kind_map.push(code);
        }
        let dim_map: Vec<u32> = part
            .dims
            .iter()
            .map(|d| {
                let next = dims.len() as u32;
                *dims.entry(d.clone()).or_insert_with(|| {
                    dim_names.push(String::from_utf8_lossy(d).into_owned());
                    next
                })
            })
            .collect();
        kind_maps.push(kind_map);
        dim_maps.push(dim_map);
    }
    Ok(Codes {
        kinds,
        seen,
        dim_names,
        kind_maps,
        dim_maps,
    })
}

/// Numbers the patients and fills the columns: the threads intern disjoint runs of the
/// partitions (small tables, in cache), then map each part's codes.
fn columns(parts: Vec<Part>, codes: Codes) -> Result<Columns, (usize, String)> {
    let Codes {
        kinds,
        seen,
        dim_names,
        kind_maps,
        dim_maps,
    } = codes;
    let starts: Vec<usize> = parts
        .iter()
        .scan(0usize, |at, p| {
            let start = *at;
            *at += p.at.len();
            Some(start)
        })
        .collect();
    let rows: usize = parts.iter().map(|p| p.at.len()).sum();
    // Every row is written by exactly one thread: relaxed stores, then the threads' joins.
    let patient: Vec<AtomicU32> = (0..rows).map(|_| AtomicU32::new(0)).collect();
    let short: usize = parts.iter().flat_map(|p| p.keys.iter().map(Vec::len)).sum();
    let threads = parts.len().max(1);
    // Runs of partitions holding about equal rows, one a thread.
    let mut bounds = vec![0usize];
    let mut acc = 0usize;
    for q in 0..PARTITIONS {
        acc += parts
            .iter()
            .map(|p| p.keys.get(q).map_or(0, Vec::len))
            .sum::<usize>();
        if bounds.len() < threads && acc * threads >= short * bounds.len() {
            bounds.push(q + 1);
        }
    }
    bounds.push(PARTITIONS);
    bounds.dedup();
    let intern = |from: usize, to: usize| -> usize {
        let mut base = 0usize;
        for q in from..to {
            let n: usize = parts
                .iter()
                .map(|p| p.keys.get(q).map_or(0, Vec::len))
                .sum();
            // Ids appear several times each in an export; the table grows if not.
            let mut table = ShortIds::with_capacity(n / 4);
            for (part, start) in parts.iter().zip(&starts) {
                for &(lo, hi, row) in part.keys.get(q).map_or(&[][..], Vec::as_slice) {
                    let next = u32::try_from(table.len()).unwrap_or(u32::MAX);
                    let (id, _) = table.get_or_insert(lo, hi, next);
                    if let Some(slot) = patient.get(start + row as usize) {
                        slot.store(
                            u32::try_from(base).unwrap_or(u32::MAX).wrapping_add(id),
                            Ordering::Relaxed,
                        );
                    }
                }
            }
            base += table.len();
        }
        base
    };
    let runs: Vec<(usize, usize)> = bounds
        .windows(2)
        .filter_map(|w| match *w {
            [a, b] => Some((a, b)),
            _ => None,
        })
        .collect();
    let intern = &intern;
    let counts: Vec<usize> = std::thread::scope(|s| {
        let handles: Vec<_> = runs
            .iter()
            .skip(1)
            .map(|&(a, b)| s.spawn(move || intern(a, b)))
            .collect();
        let mut all = vec![Some(runs.first().map_or(0, |&(a, b)| intern(a, b)))];
        all.extend(handles.into_iter().map(|h| h.join().ok()));
        all.into_iter().collect::<Option<Vec<usize>>>()
    })
    .ok_or((0, "a numbering thread failed".to_owned()))?;
    // Each run's ids follow the runs before it.
    let mut base = 0usize;
    let mut bases = Vec::with_capacity(runs.len());
    for c in &counts {
        bases.push(base);
        base += c;
    }
    std::thread::scope(|s| {
        for (&(from, to), &offset) in runs.iter().zip(&bases).skip(1) {
            let (parts, starts, patient) = (&parts, &starts, &patient);
            s.spawn(move || {
                let offset = u32::try_from(offset).unwrap_or(u32::MAX);
                for q in from..to {
                    for (part, start) in parts.iter().zip(starts) {
                        for &(_, _, row) in part.keys.get(q).map_or(&[][..], Vec::as_slice) {
                            if let Some(slot) = patient.get(start + row as usize) {
                                slot.fetch_add(offset, Ordering::Relaxed);
                            }
                        }
                    }
                }
            });
        }
    });
    // Long ids (16 bytes or more) are rare: one map, numbered after the short ones.
    let mut long: IdMap<u32> = IdMap::default();
    for (part, start) in parts.iter().zip(&starts) {
        for (row, id) in &part.long {
            let next = base + long.len();
            let n = match long.get(id) {
                Some(&n) => n,
                None => {
                    let n = u32::try_from(next)
                        .ok()
                        .filter(|n| *n < u32::MAX - 1)
                        .ok_or((rows + 1, "more than 2^32 - 2 patients".to_owned()))?;
                    long.insert(id.clone(), n);
                    n
                }
            };
            if let Some(slot) = patient.get(start + *row as usize) {
                slot.store(n, Ordering::Relaxed);
            }
        }
    }
    let patients = u32::try_from(base + long.len())
        .ok()
        .filter(|n| *n < u32::MAX - 1)
        .ok_or((rows + 1, "more than 2^32 - 2 patients".to_owned()))?;
    let with_dim = parts.iter().any(|p| !p.dim.is_empty());
    let mut cols = Columns {
        patient: patient.into_iter().map(AtomicU32::into_inner).collect(),
        kind: vec![0; rows],
        at: vec![0; rows],
        dim: if with_dim { vec![0; rows] } else { Vec::new() },
        patients,
        kinds,
        seen,
        dim_names,
    };
    // Each part's rows into its own slice of the columns, one thread a part.
    let mut jobs = Vec::with_capacity(parts.len());
    {
        let (mut kind, mut at, mut dim) = (&mut cols.kind[..], &mut cols.at[..], &mut cols.dim[..]);
        for ((part, km), dm) in parts.iter().zip(&kind_maps).zip(&dim_maps) {
            let n = part.at.len();
            let (k_here, k_rest) = cut(std::mem::take(&mut kind), n);
            let (a_here, a_rest) = cut(std::mem::take(&mut at), n);
            let (d_here, d_rest) = cut(std::mem::take(&mut dim), part.dim.len());
            (kind, at, dim) = (k_rest, a_rest, d_rest);
            jobs.push((part, km, dm, k_here, a_here, d_here));
        }
    }
    let map = |m: &[u32], x: u32| m.get(x as usize).copied().unwrap_or(0);
    std::thread::scope(|s| {
        for (part, km, dm, k, a, d) in jobs {
            s.spawn(move || {
                for (o, &x) in k.iter_mut().zip(&part.kind) {
                    *o = map(km, x);
                }
                a.copy_from_slice(part.at.get(..a.len()).unwrap_or(&[]));
                for (o, &x) in d.iter_mut().zip(&part.dim) {
                    *o = map(dm, x);
                }
            });
        }
    });
    Ok(cols)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The parallel reader gives the sequential reader's columns, row for row, on every
    /// number of threads, including cuts inside short inputs and CRLF line ends.
    #[test]
    fn agrees_with_the_sequential_reader() {
        let mut text = String::from("patient_id,event,timestamp,channel\r\n");
        for i in 0..500u64 {
            let event = ["lead", "booked", "x_custom", "arrived"][(i % 4) as usize];
            let id = if i % 7 == 0 {
                format!("a-very-long-patient-id-{}", i % 50)
            } else {
                format!("P{}", i % 90)
            };
            text += &format!(
                "{id},{event},{},{}\r\n",
                1_767_225_600 + i * 37,
                ["kol", "ad"][(i % 2) as usize]
            );
            if i % 100 == 0 {
                text += "\r\n";
            }
        }
        let args = crate::parse_args(
            [
                "--steps",
                "lead,booked",
                "--window",
                "1d",
                "--breakdown",
                "channel",
            ]
            .map(String::from),
        )
        .ok()
        .unwrap();
        let seq = crate::load::load(text.as_bytes(), &args).ok().unwrap();
        for threads in 1..6 {
            let Ok(Parallel::Read(par)) =
                load_parallel(cli::Input::Read(text.as_bytes().to_vec()), &args, threads)
            else {
                panic!("the parallel reader takes unquoted input")
            };
            assert_eq!(par.kind, seq.kind);
            assert_eq!(par.at, seq.at);
            assert_eq!(par.dim, seq.dim);
            assert_eq!(par.dim_names, seq.dim_names);
            assert_eq!(par.patients, seq.patients);
            assert_eq!(par.kinds, seq.kinds);
            // Patients are numbered in another order (by partition): compare the
            // partition of rows into patients.
            let groups = |p: &[u32]| {
                let mut first: HashMap<u32, usize> = HashMap::new();
                p.iter()
                    .enumerate()
                    .map(|(i, &x)| *first.entry(x).or_insert(i))
                    .collect::<Vec<_>>()
            };
            assert_eq!(groups(&par.patient), groups(&seq.patient));
            assert!(
                par.patient.iter().all(|&p| p < par.patients),
                "dense numbers"
            );
        }
    }

    #[test]
    fn bad_lines_are_numbered_as_the_sequential_reader_numbers_them() {
        let text = "patient_id,event,timestamp\nA,lead,1\nB,lead,2\n\nC,lead,x\nD,lead,4\n";
        let args = crate::parse_args(["--steps", "lead", "--window", "1d"].map(String::from))
            .ok()
            .unwrap();
        let seq = crate::load::load(text.as_bytes(), &args).err().unwrap();
        for threads in 1..5 {
            let Err(par) =
                load_parallel(cli::Input::Read(text.as_bytes().to_vec()), &args, threads)
            else {
                panic!("a bad line is refused")
            };
            assert_eq!(par, seq);
        }
        assert_eq!(seq.0, 5);
    }
}
