//! Reading the event export into dictionary-encoded columns: the sequential reader (any
//! RFC 4180 input, stdin included) and the header layout both paths share.

use std::collections::HashMap;
use std::io::BufRead;
use std::str::FromStr;

use clinic_ops::metrics::event::{JourneyEventKind, JourneyStage};
use clinic_ops::metrics::funnel::Dimension;

use crate::ids::{BATCH, IdMap, Interner, short_key};
use crate::{Args, HEADER, cli};

/// The input, dictionary-encoded.
pub(crate) struct Columns {
    pub(crate) patient: Vec<u32>,
    pub(crate) kind: Vec<u32>,
    pub(crate) at: Vec<i64>,
    pub(crate) dim: Vec<u32>,
    pub(crate) patients: u32,
    pub(crate) kinds: HashMap<String, u32>,
    /// Every event name some row has (the steps no row has get a warning).
    pub(crate) seen: IdMap<u32>,
    pub(crate) dim_names: Vec<String>,
}

/// Splits one CSV record (RFC 4180 quoting) into field ranges. Unquoted records are ranges
/// of `line`; a quoted record is unquoted into `scratch` and its ranges point there. Returns
/// `None` on a stray quote, else whether the ranges point into `scratch`.
fn split_fields(line: &[u8], scratch: &mut Vec<u8>, out: &mut Vec<(usize, usize)>) -> Option<bool> {
    out.clear();
    if !line.contains(&b'"') {
        let mut start = 0;
        for (i, &b) in line.iter().enumerate() {
            if b == b',' {
                out.push((start, i));
                start = i + 1;
            }
        }
        out.push((start, line.len()));
        return Some(false);
    }
    scratch.clear();
    let mut i = 0;
    loop {
        let from = scratch.len();
        if line.get(i) == Some(&b'"') {
            i += 1;
            loop {
                match line.get(i) {
                    None => return None,
                    Some(b'"') if line.get(i + 1) == Some(&b'"') => {
                        scratch.push(b'"');
                        i += 2;
                    }
                    Some(b'"') => {
                        i += 1;
                        break;
                    }
                    Some(&b) => {
                        scratch.push(b);
                        i += 1;
                    }
                }
            }
            out.push((from, scratch.len()));
            match line.get(i) {
                None => return Some(true),
                Some(b',') => i += 1,
                Some(_) => return None,
            }
        } else {
            let rest = line.get(i..).unwrap_or(&[]);
            let end = rest.iter().position(|&b| b == b',').unwrap_or(rest.len());
            let field = rest.get(..end).unwrap_or(&[]);
            if field.contains(&b'"') {
                return None;
            }
            scratch.extend_from_slice(field);
            out.push((from, scratch.len()));
            if end == rest.len() {
                return Some(true);
            }
            i += end + 1;
        }
    }
}

pub(crate) fn parse_ts(f: &[u8]) -> Option<i64> {
    let (neg, digits) = match f.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, f),
    };
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    let mut v: i64 = 0;
    if digits.len() <= 18 {
        // Eighteen digits stay below 10^18 < 2^63: no overflow to check on every digit.
        for &b in digits {
            let d = b.wrapping_sub(b'0');
            if d > 9 {
                return None;
            }
            v = v * 10 + i64::from(d);
        }
    } else {
        for &b in digits {
            if !b.is_ascii_digit() {
                return None;
            }
            v = v.checked_mul(10)?.checked_add(i64::from(b - b'0'))?;
        }
    }
    Some(if neg { -v } else { v })
}

/// Where the columns are, from the header row.
#[derive(Clone, Copy)]
pub(crate) struct Layout {
    pub(crate) patient: usize,
    pub(crate) event: usize,
    pub(crate) time: usize,
    /// The `--breakdown` column.
    pub(crate) dim: Option<usize>,
    pub(crate) amount: Option<usize>,
    /// Fields in a row.
    pub(crate) width: usize,
}

/// Reads the header row (without its line end).
pub(crate) fn layout(line: &[u8], args: &Args) -> Result<Layout, (usize, String)> {
    let mut fields: Vec<(usize, usize)> = Vec::with_capacity(8);
    let mut scratch = Vec::new();
    let quoted = split_fields(line, &mut scratch, &mut fields)
        .ok_or((1, "header has a stray quote".to_owned()))?;
    let src = if quoted { &scratch[..] } else { line };
    let header: Vec<String> = fields
        .iter()
        .map(|&(a, b)| {
            String::from_utf8_lossy(&src[a..b])
                .trim()
                .trim_start_matches('\u{feff}')
                .to_owned()
        })
        .collect();
    let names: Vec<&str> = header.iter().map(String::as_str).collect();
    let [c_patient, c_event, c_time] =
        cli::find_columns(&names, ["patient_id", "event", "timestamp"], HEADER)
            .map_err(|e| (1, e.message().trim_start_matches("line 1: ").to_owned()))?;
    let mut dim_col = None;
    let mut amount_col = None;
    for (i, h) in header.iter().enumerate() {
        match h.as_str() {
            "patient_id" | "event" | "timestamp" => {}
            "channel" | "doctor" | "clinic" => {
                let wanted = match args.breakdown {
                    Some(Dimension::Channel) => "channel",
                    Some(Dimension::Doctor) => "doctor",
                    Some(Dimension::Clinic) => "clinic",
                    _ => "",
                };
                if h == wanted {
                    dim_col = Some(i);
                }
            }
            "amount" => amount_col = Some(i),
            other => {
                return Err((
                    1,
                    format!(
                        "unknown column {other:?}; expected {HEADER} and optionally channel, doctor, clinic or amount"
                    ),
                ));
            }
        }
    }
    if args.breakdown.is_some() && dim_col.is_none() {
        return Err((
            1,
            "--breakdown names a column the header does not have".into(),
        ));
    }
    Ok(Layout {
        patient: c_patient,
        event: c_event,
        time: c_time,
        dim: dim_col,
        amount: amount_col,
        width: header.len(),
    })
}

pub(crate) fn load(mut reader: impl BufRead, args: &Args) -> Result<Columns, (usize, String)> {
    let mut line = Vec::with_capacity(256);
    let mut fields: Vec<(usize, usize)> = Vec::with_capacity(8);
    let n = reader
        .read_until(b'\n', &mut line)
        .map_err(|e| (1, format!("cannot read: {e}")))?;
    if n == 0 {
        return Err((1, format!("empty input, expected the header {HEADER}")));
    }
    trim_eol(&mut line);
    if std::str::from_utf8(&line).is_err() {
        return Err((1, "text is not UTF-8".to_owned()));
    }
    let lay = layout(&line, args)?;
    let (c_patient, c_event, c_time) = (lay.patient, lay.event, lay.time);
    let (dim_col, amount_col, width) = (lay.dim, lay.amount, lay.width);
    let mut scratch = Vec::new();
    let mut patients = Interner::default();
    // Rows whose short patient ids are interned together (the row's index is the payload).
    let mut pending: Vec<((u64, u64), usize)> = Vec::with_capacity(BATCH);
    let mut kinds: HashMap<String, u32> = HashMap::new();
    for s in JourneyStage::ALL {
        kinds.insert(s.code().to_owned(), JourneyEventKind::stage(s).code());
    }
    let mut kind_cache: IdMap<u32> = IdMap::default();
    let mut dims: IdMap<u32> = IdMap::default();
    let mut dim_names = Vec::new();
    let mut cols = Columns {
        patient: Vec::new(),
        kind: Vec::new(),
        at: Vec::new(),
        dim: Vec::new(),
        patients: 0,
        kinds: HashMap::new(),
        seen: IdMap::default(),
        dim_names: Vec::new(),
    };
    let mut lineno = 1usize;
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| (lineno + 1, format!("cannot read: {e}")))?;
        if n == 0 {
            break;
        }
        lineno += 1;
        // A quoted field may hold a line break: keep reading while quotes are unbalanced.
        while line.iter().filter(|&&b| b == b'"').count() % 2 == 1 {
            let more = reader
                .read_until(b'\n', &mut line)
                .map_err(|e| (lineno, format!("cannot read: {e}")))?;
            if more == 0 {
                return Err((lineno, "unterminated quoted field".into()));
            }
        }
        trim_eol(&mut line);
        if line.is_empty() {
            continue;
        }
        if !line.is_ascii() && std::str::from_utf8(&line).is_err() {
            return Err((lineno, "text is not UTF-8".into()));
        }
        let quoted = split_fields(&line, &mut scratch, &mut fields)
            .ok_or((lineno, "malformed quoting".to_owned()))?;
        if fields.len() != width {
            return Err((
                lineno,
                format!("{} fields, the header has {width}", fields.len()),
            ));
        }
        let src: &[u8] = if quoted { &scratch } else { &line };
        let field = |i: usize| fields.get(i).and_then(|&(a, b)| src.get(a..b));
        let (Some(p), Some(e), Some(t)) = (field(c_patient), field(c_event), field(c_time)) else {
            return Err((lineno, "fewer than 3 fields".into()));
        };
        if p.is_empty() {
            return Err((lineno, "patient_id is empty".into()));
        }
        if e.is_empty() {
            return Err((lineno, "event is empty".into()));
        }
        let ts = parse_ts(t).ok_or_else(|| {
            (
                lineno,
                format!(
                    "timestamp {:?} is not whole Unix seconds",
                    String::from_utf8_lossy(t)
                ),
            )
        })?;
        if let Some(a) = amount_col.and_then(field)
            && !a.is_empty()
        {
            let s = std::str::from_utf8(a).ok();
            if s.and_then(|s| rust_decimal::Decimal::from_str(s.trim()).ok())
                .is_none()
            {
                return Err((
                    lineno,
                    format!("amount {:?} is not a number", String::from_utf8_lossy(a)),
                ));
            }
        }
        // The row's patient number is filled in when its batch of ids is interned.
        let pid = match short_key(p) {
            Some(key) => {
                pending.push((key, cols.patient.len()));
                0
            }
            None => patients.intern(p).map_err(|e| (lineno, e))?,
        };
        let kind = match kind_cache.get(e) {
            Some(&k) => k,
            None => {
                let name = std::str::from_utf8(e)
                    .map_err(|_| (lineno, "event is not UTF-8".to_owned()))?
                    .to_owned();
                let custom = kinds.len() as u32;
                let code = match kinds.get(&name) {
                    Some(&c) => c,
                    None => {
                        let c = JourneyEventKind::custom(custom)
                            .map_err(|err| (lineno, err.to_string()))?
                            .code();
                        kinds.insert(name, c);
                        c
                    }
                };
                kind_cache.insert(Box::from(e), code);
                code
            }
        };
        if let Some(d) = dim_col.and_then(field) {
            let next = dims.len() as u32;
            let code = *dims.entry(Box::from(d)).or_insert_with(|| {
                dim_names.push(String::from_utf8_lossy(d).into_owned());
                next
            });
            cols.dim.push(code);
        }
        cols.patient.push(pid);
        cols.kind.push(kind);
        cols.at.push(ts);
        if pending.len() == BATCH {
            resolve(&mut patients, &mut pending, &mut cols.patient).map_err(|e| (lineno, e))?;
        }
    }
    resolve(&mut patients, &mut pending, &mut cols.patient).map_err(|e| (lineno, e))?;
    cols.patients = patients.len() as u32;
    cols.kinds = kinds;
    cols.seen = kind_cache;
    cols.dim_names = dim_names;
    Ok(cols)
}

/// Interns a batch of short patient ids into their rows' slots.
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

pub(crate) fn trim_eol(line: &mut Vec<u8>) {
    while matches!(line.last(), Some(b'\n' | b'\r')) {
        line.pop();
    }
}

#[cfg(test)]
mod tests {
    use super::parse_ts;
    use proptest::prelude::*;

    /// The definition: Rust's own integer parse, without its leading `+`, and without
    /// `i64::MIN`, whose magnitude is no `i64`.
    fn reference(s: &str) -> Option<i64> {
        if s.starts_with('+') {
            return None;
        }
        s.parse::<i64>().ok().filter(|v| *v != i64::MIN)
    }

    #[test]
    fn edges() {
        assert_eq!(parse_ts(b"1767225600"), Some(1_767_225_600));
        assert_eq!(parse_ts(b"-0"), Some(0));
        assert_eq!(
            parse_ts(b"999999999999999999"),
            Some(999_999_999_999_999_999)
        );
        assert_eq!(parse_ts(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_ts(b"9223372036854775808"), None);
        assert_eq!(parse_ts(b"-9223372036854775808"), None);
        for bad in [
            &b""[..],
            b"-",
            b"+1",
            b"1.0",
            b" 1",
            b"1e3",
            b"12345678901234567890",
        ] {
            assert_eq!(parse_ts(bad), None, "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn equals_the_integer_parse(s in "[-+]?[0-9:/ ]{0,21}", v in any::<i64>()) {
            prop_assert_eq!(parse_ts(s.as_bytes()), reference(&s));
            let text = v.to_string();
            prop_assert_eq!(parse_ts(text.as_bytes()), reference(&text));
        }
    }
}
