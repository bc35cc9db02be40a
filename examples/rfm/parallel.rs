//! The parallel reader: an unquoted export in memory is cut into one byte range per thread
//! at line starts (`common/chunks.rs`, as the `funnel` calculator does), each thread parses
//! its rows and numbers its patients itself, and one pass numbers them globally in the
//! order a single reader would have first seen them (`common/ids.rs`, [`merge_local`]).
//!
//! Anything the fast path does not take as it is (a quote, a byte-order mark, a stray
//! carriage return) and any bad row send the whole input to the sequential reader
//! (`load.rs`, the `csv` crate), which then gives the answer or the message.

use clinic_ops::calendar::ClinicCalendar;
use clinic_ops::money::Yuan;

use crate::HEADER;
use crate::chunks;
use crate::cli::find_columns;
use crate::fields::{parse_amount, parse_day, trim};
use crate::intern::{BATCH, Interner, LocalIds, merge_local, short_key};
use crate::load::Row;
use crate::pq;

/// One thread's rows, patients numbered in the thread's own first-seen order.
#[derive(Default)]
struct Part {
    ids: LocalIds,
    rows: Vec<Row>,
    pending: Vec<((u64, u64), (i32, Yuan))>,
}

impl Part {
    fn flush(&mut self) -> Option<()> {
        let Part { ids, rows, pending } = self;
        ids.resolve(pending, |patient, (day, amount)| {
            rows.push(Row {
                patient,
                day,
                amount,
            });
        })
        .ok()
    }
}

#[derive(Clone, Copy)]
struct Layout {
    id: usize,
    date: usize,
    amount: usize,
    width: usize,
}

/// Parses `data[range]`; `None` on anything the sequential reader should see.
fn parse_part(
    data: &[u8],
    range: (usize, usize),
    lay: Layout,
    cal: ClinicCalendar,
    as_of: i64,
) -> Option<Part> {
    let mut part = Part::default();
    part.rows.reserve((range.1 - range.0) / 20);
    let mut fields = Vec::with_capacity(lay.width + 1);
    // One search of the range each, and a line's own check only where it found something.
    let text = data.get(range.0..range.1).unwrap_or(&[]);
    let ascii = text.is_ascii();
    let cr = memchr::memchr(b'\r', text).is_some();
    chunks::for_each_row(data, range, &mut fields, |_, line, fields| {
        // The csv crate ends a record at a lone carriage return too.
        if (cr && memchr::memchr(b'\r', line).is_some())
            || (!ascii && std::str::from_utf8(line).is_err())
        {
            return Err(());
        }
        if fields.len() != lay.width {
            return Err(());
        }
        let field = |i: usize| {
            fields
                .get(i)
                .and_then(|&(a, b)| line.get(a..b))
                .map_or(&b""[..], trim)
        };
        let id = field(lay.id);
        if id.is_empty() {
            return Err(());
        }
        let day = parse_day(field(lay.date), cal).map_err(|_| ())?;
        let amount = parse_amount(field(lay.amount)).map_err(|_| ())?;
        if day > as_of {
            return Ok(());
        }
        let day = i32::try_from(day).map_err(|_| ())?;
        match short_key(id) {
            Some(key) => {
                part.pending.push((key, (day, amount)));
                if part.pending.len() == BATCH {
                    part.flush().ok_or(())?;
                }
            }
            None => {
                part.flush().ok_or(())?;
                let patient = part.ids.intern_long(id).map_err(|_| ())?;
                part.rows.push(Row {
                    patient,
                    day,
                    amount,
                });
            }
        }
        Ok(())
    })
    .ok()?;
    part.flush()?;
    Some(part)
}

/// Reads an export held in memory on `threads` threads: the patients, and the rows in input
/// order as one vector per thread. `None` for the sequential reader to take the input.
pub(crate) fn load_parallel(
    data: &[u8],
    threads: usize,
    cal: ClinicCalendar,
    as_of: i64,
) -> Option<(Interner, Vec<Vec<Row>>)> {
    if data.is_empty() || data.starts_with(b"\xEF\xBB\xBF") || memchr::memchr(b'"', data).is_some()
    {
        return None;
    }
    let (header, body) = chunks::header(data);
    let header = std::str::from_utf8(header).ok()?;
    if header.contains('\r') {
        return None;
    }
    let names: Vec<&str> = header.split(',').collect();
    let [id, date, amount] = find_columns(&names, ["patient_id", "date", "amount"], HEADER).ok()?;
    let lay = Layout {
        id,
        date,
        amount,
        width: names.len(),
    };
    let ranges = chunks::ranges(data, body, threads);
    let parts = chunks::in_parallel(
        &ranges,
        |r| parse_part(data, r, lay, cal, as_of).ok_or(()),
        || (),
    )
    .ok()?;
    number(parts).ok()
}

/// Maps each part's rows to global patient numbers, one thread a part.
fn number(parts: Vec<Part>) -> Result<(Interner, Vec<Vec<Row>>), String> {
    let mut ids = Interner::default();
    let local: Vec<&LocalIds> = parts.iter().map(|p| &p.ids).collect();
    let maps = merge_local(&mut ids, &local)?;
    let rows = std::thread::scope(|s| {
        let handles: Vec<_> = parts
            .into_iter()
            .zip(maps)
            .map(|(part, map)| {
                s.spawn(move || {
                    let mut rows = part.rows;
                    for r in &mut rows {
                        r.patient = map.get(r.patient as usize).copied().unwrap_or(0);
                    }
                    rows
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().ok())
            .collect::<Option<Vec<_>>>()
    })
    .ok_or_else(|| "a numbering thread failed".to_owned())?;
    Ok((ids, rows))
}

/// Reads the columns of a Parquet file, one share of its row groups per thread, with the
/// checks and messages of the CSV reader (`line N` is row N - 2, 0-based).
pub(crate) fn load_parquet(
    path: &str,
    threads: usize,
    cal: ClinicCalendar,
    as_of: i64,
) -> Result<(Interner, Vec<Vec<Row>>), pq::Fail> {
    let file = pq::open(path, &["patient_id", "date", "amount"]).map_err(pq::Fail::File)?;
    let header = file.header();
    let names: Vec<&str> = header.split(',').filter(|n| !n.is_empty()).collect();
    let [c_id, c_date, c_amount] = find_columns(&names, ["patient_id", "date", "amount"], HEADER)
        .map_err(|e| pq::Fail::File(e.message().to_owned()))?;
    let parts: Vec<(Part, Vec<u8>)> =
        file.scan(threads, |(part, scratch): &mut (Part, Vec<u8>), b| {
            let (Some(ci), Some(cd), Some(ca)) = (b.col(c_id), b.col(c_date), b.col(c_amount))
            else {
                return Err(pq::Fail::File(format!(
                    "{path}: a column is missing from a row group"
                )));
            };
            for i in 0..b.rows {
                let line = b.line(i);
                let bad = |why: String| pq::Fail::Line(line, why);
                let id_owned;
                let id = match ci.bytes(i) {
                    Some(id) => id,
                    None => {
                        id_owned = ci.text(i, scratch).map_err(bad)?.to_vec();
                        &id_owned[..]
                    }
                };
                if !id.is_ascii() && std::str::from_utf8(id).is_err() {
                    return Err(bad("text is not UTF-8".into()));
                }
                let id = trim(id);
                if id.is_empty() {
                    return Err(bad("patient_id is empty".into()));
                }
                let day = match cd.day(i) {
                    Some(d) => d,
                    None => {
                        let t = cd.text(i, scratch).map_err(bad)?;
                        parse_day(trim(t), cal).map_err(bad)?
                    }
                };
                let amount = match ca.bytes(i) {
                    Some(a) => parse_amount(trim(a)),
                    None => parse_amount(trim(ca.text(i, scratch).map_err(bad)?)),
                }
                .map_err(bad)?;
                if day > as_of {
                    continue;
                }
                let day = i32::try_from(day).map_err(|_| bad("date out of range".into()))?;
                match short_key(id) {
                    Some(key) => {
                        part.pending.push((key, (day, amount)));
                        if part.pending.len() == BATCH {
                            part.flush()
                                .ok_or_else(|| bad("more than 2^32 - 2 patients".into()))?;
                        }
                    }
                    None => {
                        part.flush()
                            .ok_or_else(|| bad("more than 2^32 - 2 patients".into()))?;
                        let patient = part.ids.intern_long(id).map_err(bad)?;
                        part.rows.push(Row {
                            patient,
                            day,
                            amount,
                        });
                    }
                }
            }
            part.flush()
                .ok_or_else(|| pq::Fail::Line(b.line(b.rows), "more than 2^32 - 2 patients".into()))
        })?;
    number(parts.into_iter().map(|(p, _)| p).collect()).map_err(pq::Fail::File)
}
