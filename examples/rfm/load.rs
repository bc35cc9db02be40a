//! Reading the transactions into compact rows.

use std::io::Read;

use clinic_ops::calendar::ClinicCalendar;
use clinic_ops::money::Yuan;

use crate::HEADER;
use crate::cli::find_columns;
use crate::fields::{parse_amount, parse_day, trim};
use crate::intern::{BATCH, Interner, short_key};

/// One input row: 24 bytes, no pointers.
#[derive(Clone, Copy)]
pub(crate) struct Row {
    pub(crate) patient: u32,
    pub(crate) day: i32,
    pub(crate) amount: Yuan,
}

pub(crate) struct Loaded {
    pub(crate) ids: Interner,
    pub(crate) rows: Vec<Row>,
}

/// `bytes_hint` is the input size when known: rows are reserved for it up front, so the
/// row vector never doubles and copies hundreds of megabytes.
pub(crate) fn load(
    reader: impl Read,
    bytes_hint: u64,
    cal: ClinicCalendar,
    as_of: i64,
) -> Result<Loaded, String> {
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(true)
        .buffer_capacity(1 << 20)
        .from_reader(reader);
    let header = csv
        .byte_headers()
        .map_err(|e| format!("line 1: {e}"))?
        .clone();
    let mut ids = Interner::default();
    // A row is rarely under 20 bytes (`id,YYYYMMDD,1.00` and a newline).
    let mut rows = Vec::with_capacity(usize::try_from(bytes_hint / 20).unwrap_or(0).min(1 << 28));
    if header.is_empty() {
        return Err(format!("line 1: empty input, expected the header {HEADER}"));
    }
    let names: Vec<&str> = header
        .iter()
        .map(std::str::from_utf8)
        .collect::<Result<_, _>>()
        .map_err(|_| "line 1: text is not UTF-8".to_owned())?;
    let [c_id, c_date, c_amount] = find_columns(&names, ["patient_id", "date", "amount"], HEADER)
        .map_err(|e| e.message().to_owned())?;
    let mut rec = csv::ByteRecord::new();
    let mut pending: Vec<((u64, u64), (i32, Yuan))> = Vec::with_capacity(BATCH);
    loop {
        match csv.read_byte_record(&mut rec) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                return Err(format!("line {line}: {e}"));
            }
        }
        let line = rec.position().map_or(0, |p| p.line());
        if !rec.as_slice().is_ascii() && std::str::from_utf8(rec.as_slice()).is_err() {
            return Err(format!("line {line}: text is not UTF-8"));
        }
        let field = |i: usize| rec.get(i).map(trim).unwrap_or(b"");
        let id = field(c_id);
        if id.is_empty() {
            return Err(format!("line {line}: patient_id is empty"));
        }
        let day = parse_day(field(c_date), cal).map_err(|e| format!("line {line}: {e}"))?;
        let amount = parse_amount(field(c_amount)).map_err(|e| format!("line {line}: {e}"))?;
        // Rows after the as-of day are checked but not kept: lifetimes leaves customers with
        // no earlier transaction out, so they need no id either.
        if day > as_of {
            continue;
        }
        let day = i32::try_from(day).map_err(|_| format!("line {line}: date out of range"))?;
        match short_key(id) {
            Some(key) => {
                pending.push((key, (day, amount)));
                if pending.len() == BATCH {
                    ids.resolve(&mut pending, |patient, (day, amount)| {
                        rows.push(Row {
                            patient,
                            day,
                            amount,
                        });
                    })
                    .map_err(|e| format!("line {line}: {e}"))?;
                }
            }
            None => {
                let patient = ids.intern(id).map_err(|e| format!("line {line}: {e}"))?;
                rows.push(Row {
                    patient,
                    day,
                    amount,
                });
            }
        }
    }
    ids.resolve(&mut pending, |patient, (day, amount)| {
        rows.push(Row {
            patient,
            day,
            amount,
        });
    })?;
    Ok(Loaded { ids, rows })
}
