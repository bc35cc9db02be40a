//! Parquet input (`common/parquet.rs`): the two columns decoded as Arrow arrays on one thread
//! per share of the row groups, patients numbered by each thread and then globally
//! (`common/ids.rs`), with the CSV reader's checks and messages (`line N` is row N - 2).

use clinic_ops::metrics::retention::{MAX_UNIX_SECONDS, MIN_UNIX_SECONDS};

use super::Fail;
use crate::ids::{BATCH, Interner, LocalIds, merge_local, short_key};
use crate::load::{Rows, layout, parse_ts};
use crate::pq;

#[derive(Default)]
struct Part {
    ids: LocalIds,
    patients: Vec<u32>,
    times: Vec<i64>,
    pending: Vec<((u64, u64), usize)>,
    scratch: Vec<u8>,
}

impl Part {
    fn flush(&mut self) -> Result<(), String> {
        let Part {
            ids,
            pending,
            patients,
            ..
        } = self;
        ids.resolve(pending, |n, row| {
            if let Some(slot) = patients.get_mut(row) {
                *slot = n;
            }
        })
    }
}

pub(super) fn load_parquet(path: &str, threads: usize) -> Result<Rows, Fail> {
    let fail = |e: pq::Fail| Fail(e.message());
    let file = pq::open(path, &["patient_id", "timestamp"]).map_err(Fail)?;
    let header = file.header();
    let names: Vec<&str> = header.split(',').filter(|n| !n.is_empty()).collect();
    let lay = layout(&names)?;
    let parts: Vec<Part> = file
        .scan(threads, |part: &mut Part, b| {
            let (Some(cp), Some(ct)) = (b.col(lay.patient), b.col(lay.timestamp)) else {
                return Err(pq::Fail::File(format!(
                    "{path}: a column is missing from a row group"
                )));
            };
            for i in 0..b.rows {
                let line = b.line(i);
                let bad = |why: String| pq::Fail::Line(line, why);
                let p_owned;
                let p = match cp.bytes(i) {
                    Some(p) => p,
                    None => {
                        p_owned = cp.text(i, &mut part.scratch).map_err(bad)?.to_vec();
                        &p_owned[..]
                    }
                };
                if !p.is_ascii() && std::str::from_utf8(p).is_err() {
                    return Err(bad("text is not UTF-8".into()));
                }
                if p.is_empty() {
                    return Err(bad("patient_id is empty".into()));
                }
                let t = match ct.integer(i) {
                    Some(v) if (MIN_UNIX_SECONDS.max(0)..=MAX_UNIX_SECONDS).contains(&v) => v,
                    _ => parse_ts(ct.text(i, &mut part.scratch).map_err(bad)?).map_err(bad)?,
                };
                let row = part.patients.len();
                match short_key(p) {
                    Some(key) => {
                        part.pending.push((key, row));
                        part.patients.push(0);
                        if part.pending.len() == BATCH {
                            part.flush().map_err(bad)?;
                        }
                    }
                    None => {
                        part.flush().map_err(bad)?;
                        let n = part.ids.intern_long(p).map_err(bad)?;
                        part.patients.push(n);
                    }
                }
                part.times.push(t);
            }
            part.flush()
                .map_err(|why| pq::Fail::Line(b.line(b.rows), why))
        })
        .map_err(fail)?;
    let mut ids = Interner::default();
    let local: Vec<&LocalIds> = parts.iter().map(|p| &p.ids).collect();
    let maps = merge_local(&mut ids, &local).map_err(Fail)?;
    let mut rows = Rows::default();
    for (part, map) in parts.iter().zip(&maps) {
        rows.patients.extend(
            part.patients
                .iter()
                .map(|&p| map.get(p as usize).copied().unwrap_or(0)),
        );
        rows.times.extend_from_slice(&part.times);
    }
    // One shard: every patient numbered densely from 0.
    rows.split = rows.patients.len();
    Ok(rows)
}
