//! The parallel reader: an unquoted export in memory is cut into one byte range per thread
//! at line starts, each thread splits, checks and parses its lines (fields, UTF-8,
//! timestamps, amounts, event and breakdown names to thread-local codes), and one pass then
//! numbers the patients and maps the local codes to global ones in row order, so the
//! columns, the codes and every message are those of the sequential reader.
//!
//! Input with a quote anywhere goes to the sequential reader instead: a quoted field may
//! hold a line break, which would make cutting at line starts unsafe.

use std::collections::HashMap;
use std::str::FromStr;

use clinic_ops::metrics::event::{JourneyEventKind, JourneyStage};

use crate::Args;
use crate::ids::{BATCH, IdMap, Interner, short_key};
use crate::load::{Columns, Layout, layout, parse_ts};

/// One thread's rows. A patient id is kept as its place in the input, `offset << 16 | len`.
#[derive(Default)]
struct Part {
    pid: Vec<u64>,
    kind: Vec<u32>,
    at: Vec<i64>,
    dim: Vec<u32>,
    /// Local event and breakdown names, first seen first, as byte ranges of the input.
    kinds: Vec<(usize, usize)>,
    dims: Vec<(usize, usize)>,
}

/// Bad input at a byte offset of the input (the start of its line).
type Bad = (usize, String);

/// The 1-based line of a byte offset.
fn line_of(data: &[u8], offset: usize) -> usize {
    1 + data
        .get(..offset)
        .unwrap_or(data)
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
}

/// Parses the lines of `data[from..to]` (which starts at a line start).
fn parse_part(data: &[u8], (from, to): (usize, usize), lay: Layout) -> Result<Part, Bad> {
    let mut part = Part::default();
    let rows_guess = (to - from) / 32;
    part.pid.reserve(rows_guess);
    part.kind.reserve(rows_guess);
    part.at.reserve(rows_guess);
    let mut kind_codes: IdMap<u32> = IdMap::default();
    let mut dim_codes: IdMap<u32> = IdMap::default();
    let mut fields: Vec<(usize, usize)> = Vec::with_capacity(lay.width + 1);
    let mut start = from;
    while start < to {
        let body = data.get(start..to).unwrap_or(&[]);
        let len = body.iter().position(|&b| b == b'\n').unwrap_or(body.len());
        let next = start + len + 1;
        let mut end = start + len;
        if end > start && data.get(end - 1) == Some(&b'\r') {
            end -= 1;
        }
        let line = data.get(start..end).unwrap_or(&[]);
        let at = start;
        start = next;
        if line.is_empty() {
            continue;
        }
        let bad = |why: String| (at, why);
        if !line.is_ascii() && std::str::from_utf8(line).is_err() {
            return Err(bad("text is not UTF-8".into()));
        }
        fields.clear();
        let mut f = 0;
        for (i, &b) in line.iter().enumerate() {
            if b == b',' {
                fields.push((at + f, at + i));
                f = i + 1;
            }
        }
        fields.push((at + f, at + line.len()));
        if fields.len() != lay.width {
            return Err(bad(format!(
                "{} fields, the header has {}",
                fields.len(),
                lay.width
            )));
        }
        let range = |i: usize| fields.get(i).copied().unwrap_or((at, at));
        let field = |i: usize| {
            let (a, b) = range(i);
            data.get(a..b).unwrap_or(&[])
        };
        let (p, e, t) = (field(lay.patient), field(lay.event), field(lay.time));
        if p.is_empty() {
            return Err(bad("patient_id is empty".into()));
        }
        if e.is_empty() {
            return Err(bad("event is empty".into()));
        }
        let ts = parse_ts(t).ok_or_else(|| {
            bad(format!(
                "timestamp {:?} is not whole Unix seconds",
                String::from_utf8_lossy(t)
            ))
        })?;
        if let Some(a) = lay.amount.map(field)
            && !a.is_empty()
        {
            let s = std::str::from_utf8(a).ok();
            if s.and_then(|s| rust_decimal::Decimal::from_str(s.trim()).ok())
                .is_none()
            {
                return Err(bad(format!(
                    "amount {:?} is not a number",
                    String::from_utf8_lossy(a)
                )));
            }
        }
        let (pa, pb) = range(lay.patient);
        if pb - pa > 0xffff {
            return Err(bad("patient_id is longer than 65,535 bytes".into()));
        }
        part.pid.push(((pa as u64) << 16) | (pb - pa) as u64);
        let next_kind = part.kinds.len() as u32;
        let kind = *kind_codes.entry(Box::from(e)).or_insert_with(|| {
            part.kinds.push(range(lay.event));
            next_kind
        });
        part.kind.push(kind);
        part.at.push(ts);
        if let Some(c) = lay.dim {
            let d = field(c);
            let next_dim = part.dims.len() as u32;
            let code = *dim_codes.entry(Box::from(d)).or_insert_with(|| {
                part.dims.push(range(c));
                next_dim
            });
            part.dim.push(code);
        }
    }
    Ok(part)
}

/// Reads an unquoted export held in memory on `threads` threads; `Ok(None)` when the input
/// is empty or holds a quote, for the sequential reader to take.
pub(crate) fn load_parallel(
    data: &[u8],
    args: &Args,
    threads: usize,
) -> Result<Option<Columns>, (usize, String)> {
    if data.is_empty() || data.contains(&b'"') {
        return Ok(None);
    }
    let header_end = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
    let mut header = data.get(..header_end).unwrap_or(&[]);
    if let Some(h) = header.strip_suffix(b"\r") {
        header = h;
    }
    if std::str::from_utf8(header).is_err() {
        return Err((1, "text is not UTF-8".to_owned()));
    }
    let lay = layout(header, args)?;
    let body = (header_end + 1).min(data.len());
    // One range per thread, each moved on to the next line start.
    let threads = threads.clamp(1, 64);
    let mut cuts = vec![body];
    for k in 1..threads {
        let guess = body + (data.len() - body) * k / threads;
        let at = data
            .get(guess..)
            .and_then(|rest| rest.iter().position(|&b| b == b'\n'))
            .map_or(data.len(), |i| guess + i + 1);
        cuts.push(at.max(*cuts.last().unwrap_or(&body)));
    }
    cuts.push(data.len());
    let ranges: Vec<(usize, usize)> = cuts.windows(2).map(|w| (w[0], w[1])).collect();
    let parts: Vec<Result<Part, Bad>> = std::thread::scope(|s| {
        let handles: Vec<_> = ranges
            .iter()
            .skip(1)
            .map(|&r| s.spawn(move || parse_part(data, r, lay)))
            .collect();
        let first = ranges
            .first()
            .map_or_else(|| Ok(Part::default()), |&r| parse_part(data, r, lay));
        let mut all = vec![first];
        for h in handles {
            all.push(
                h.join()
                    .unwrap_or_else(|_| Err((0, "a parser thread failed".to_owned()))),
            );
        }
        all
    });
    // The first bad line in input order, as the sequential reader would report it.
    let mut ok = Vec::with_capacity(parts.len());
    for p in parts {
        match p {
            Ok(p) => ok.push(p),
            Err((offset, why)) => return Err((line_of(data, offset), why)),
        }
    }
    merge(data, ok).map(Some)
}

/// Numbers the patients and maps local codes to global ones, in row order.
fn merge(data: &[u8], parts: Vec<Part>) -> Result<Columns, (usize, String)> {
    let bytes = |(a, b): (usize, usize)| data.get(a..b).unwrap_or(&[]);
    let mut kinds: HashMap<String, u32> = HashMap::new();
    for s in JourneyStage::ALL {
        kinds.insert(s.code().to_owned(), JourneyEventKind::stage(s).code());
    }
    let mut seen: IdMap<u32> = IdMap::default();
    let mut dims: IdMap<u32> = IdMap::default();
    let mut dim_names = Vec::new();
    let rows: usize = parts.iter().map(|p| p.at.len()).sum();
    let mut cols = Columns {
        patient: vec![0; rows],
        kind: Vec::with_capacity(rows),
        at: Vec::with_capacity(rows),
        dim: Vec::new(),
        patients: 0,
        kinds: HashMap::new(),
        seen: IdMap::default(),
        dim_names: Vec::new(),
    };
    let mut patients = Interner::default();
    let mut pending: Vec<((u64, u64), usize)> = Vec::with_capacity(BATCH);
    let mut row = 0usize;
    for part in parts {
        let mut kind_map = Vec::with_capacity(part.kinds.len());
        for &r in &part.kinds {
            let e = bytes(r);
            let code = match seen.get(e) {
                Some(&c) => c,
                None => {
                    let name = String::from_utf8_lossy(e).into_owned();
                    let custom = kinds.len() as u32;
                    let code = match kinds.get(&name) {
                        Some(&c) => c,
                        None => {
                            let c = JourneyEventKind::custom(custom)
                                .map_err(|err| (line_of(data, r.0), err.to_string()))?
                                .code();
                            kinds.insert(name, c);
                            c
                        }
                    };
                    seen.insert(Box::from(e), code);
                    code
                }
            };
            kind_map.push(code);
        }
        let dim_map: Vec<u32> = part
            .dims
            .iter()
            .map(|&r| {
                let d = bytes(r);
                let next = dims.len() as u32;
                *dims.entry(Box::from(d)).or_insert_with(|| {
                    dim_names.push(String::from_utf8_lossy(d).into_owned());
                    next
                })
            })
            .collect();
        cols.kind.extend(
            part.kind
                .iter()
                .map(|&k| kind_map.get(k as usize).copied().unwrap_or(0)),
        );
        cols.dim.extend(
            part.dim
                .iter()
                .map(|&d| dim_map.get(d as usize).copied().unwrap_or(0)),
        );
        cols.at.extend_from_slice(&part.at);
        for &packed in &part.pid {
            let from = (packed >> 16) as usize;
            let id = bytes((from, from + (packed & 0xffff) as usize));
            match short_key(id) {
                Some(key) => {
                    pending.push((key, row));
                    if pending.len() == BATCH {
                        resolve(&mut patients, &mut pending, &mut cols.patient)
                            .map_err(|e| (line_of(data, from), e))?;
                    }
                }
                None => {
                    let p = patients.intern(id).map_err(|e| (line_of(data, from), e))?;
                    if let Some(slot) = cols.patient.get_mut(row) {
                        *slot = p;
                    }
                }
            }
            row += 1;
        }
    }
    resolve(&mut patients, &mut pending, &mut cols.patient).map_err(|e| (0, e))?;
    cols.patients = patients.len() as u32;
    cols.kinds = kinds;
    cols.seen = seen;
    cols.dim_names = dim_names;
    Ok(cols)
}

fn resolve(
    patients: &mut Interner,
    pending: &mut Vec<((u64, u64), usize)>,
    column: &mut [u32],
) -> Result<(), String> {
    patients.resolve(pending, |p, row| {
        if let Some(slot) = column.get_mut(row) {
            *slot = p;
        }
    })
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
            let par = load_parallel(text.as_bytes(), &args, threads)
                .ok()
                .flatten()
                .unwrap();
            assert_eq!(par.kind, seq.kind);
            assert_eq!(par.at, seq.at);
            assert_eq!(par.dim, seq.dim);
            assert_eq!(par.dim_names, seq.dim_names);
            assert_eq!(par.patients, seq.patients);
            assert_eq!(par.kinds, seq.kinds);
            // Numbering may differ where long ids are interned at once: compare the
            // partition of rows into patients.
            let groups = |p: &[u32]| {
                let mut first: HashMap<u32, usize> = HashMap::new();
                p.iter()
                    .enumerate()
                    .map(|(i, &x)| *first.entry(x).or_insert(i))
                    .collect::<Vec<_>>()
            };
            assert_eq!(groups(&par.patient), groups(&seq.patient));
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
            let par = load_parallel(text.as_bytes(), &args, threads)
                .err()
                .unwrap();
            assert_eq!(par, seq);
        }
        assert_eq!(seq.0, 5);
    }
}
