//! Parquet input for the calculators (`CALCULATORS.md`: `--input FILE.parquet` reads the
//! same columns as the CSV). Only the columns a calculator names are read, with the column
//! readers of the `parquet` crate (no arrow), and handed to the calculator's own CSV loader as
//! text, so a Parquet file gets exactly the CSV's checks and answers; its `line N` is row
//! `N - 1` of the file, as in a CSV with a header.
//!
//! `#[path]`-included by each calculator, so each compiles the parts it uses.
#![allow(dead_code)]

use std::fs::File;

use parquet::basic::{LogicalType, TimeUnit};
use parquet::column::reader::{ColumnReader, ColumnReaderImpl};
use parquet::data_type::{ByteArray, DataType};
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::schema::types::ColumnDescriptor;

/// Whether a path names a Parquet file (the format is chosen by the extension).
pub(crate) fn is_parquet(path: &str) -> bool {
    std::path::Path::new(path)
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("parquet"))
}

/// One column's cells as text: `buf[ends[i - 1]..ends[i]]` is row `i`.
struct Texts {
    buf: Vec<u8>,
    ends: Vec<usize>,
}

impl Texts {
    fn cell(&self, row: usize) -> &[u8] {
        let from = match row.checked_sub(1) {
            Some(prev) => self.ends.get(prev).copied().unwrap_or(0),
            None => 0,
        };
        let to = self.ends.get(row).copied().unwrap_or(from);
        self.buf.get(from..to).unwrap_or(&[])
    }
}

/// Reads `rows` records of one column, null cells as empty text, each value written by
/// `fmt`.
fn read_column<T: DataType>(
    mut reader: ColumnReaderImpl<T>,
    rows: usize,
    max_def: i16,
    mut fmt: impl FnMut(&T::T, &mut Vec<u8>) -> Result<(), String>,
) -> Result<Texts, String> {
    let mut out = Texts {
        buf: Vec::with_capacity(rows * 8),
        ends: Vec::with_capacity(rows),
    };
    let mut defs: Vec<i16> = Vec::new();
    let mut values: Vec<T::T> = Vec::new();
    let mut left = rows;
    while left > 0 {
        defs.clear();
        values.clear();
        let (records, _, _) = reader
            .read_records(
                left.min(1 << 16),
                (max_def > 0).then_some(&mut defs),
                None,
                &mut values,
            )
            .map_err(|e| e.to_string())?;
        if records == 0 {
            break;
        }
        let mut next = values.iter();
        for i in 0..records {
            let present = max_def == 0 || defs.get(i) == Some(&max_def);
            if present && let Some(v) = next.next() {
                fmt(v, &mut out.buf)?;
            }
            out.ends.push(out.buf.len());
        }
        left -= records.min(left);
    }
    Ok(out)
}

fn push_display(out: &mut Vec<u8>, v: impl std::fmt::Display) {
    use std::io::Write;
    // Writing to a Vec cannot fail.
    let _ = write!(out, "{v}");
}

/// An integer in a column's logical type: a date, a timestamp in seconds, a decimal, or
/// the number itself.
fn push_integer(out: &mut Vec<u8>, v: i64, col: &ColumnDescriptor) -> Result<(), String> {
    match col.logical_type_ref() {
        Some(LogicalType::Date) => {
            let day = chrono::TimeDelta::try_days(v)
                .and_then(|d| {
                    chrono::DateTime::UNIX_EPOCH
                        .date_naive()
                        .checked_add_signed(d)
                })
                .ok_or_else(|| format!("column {}: day {v} is out of range", col.name()))?;
            push_display(out, day.format("%Y-%m-%d"));
        }
        Some(LogicalType::Timestamp(t)) => {
            let per_second = match t.unit {
                TimeUnit::MILLIS => 1_000,
                TimeUnit::MICROS => 1_000_000,
                _ => 1_000_000_000,
            };
            push_display(out, v.div_euclid(per_second));
        }
        Some(LogicalType::Decimal(d)) => {
            let scale = u32::try_from(d.scale)
                .map_err(|_| format!("column {} has a negative decimal scale", col.name()))?;
            let dec = rust_decimal::Decimal::try_from_i128_with_scale(i128::from(v), scale)
                .map_err(|e| format!("column {}: {e}", col.name()))?;
            push_display(out, dec);
        }
        _ => push_display(out, v),
    }
    Ok(())
}

/// Text as a CSV cell, quoted where RFC 4180 needs it.
fn push_text(out: &mut Vec<u8>, v: &[u8]) {
    if v.iter().any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r')) {
        out.push(b'"');
        for &b in v {
            if b == b'"' {
                out.push(b'"');
            }
            out.push(b);
        }
        out.push(b'"');
    } else {
        out.extend_from_slice(v);
    }
}

/// Reads the columns named in `wanted` that the file has (the others are left to the
/// loader, which names a missing required one) as CSV text with a header row.
///
/// # Errors
///
/// A message naming the file: it cannot be opened or is not Parquet, or a wanted column
/// has a type that has no text form here (INT96, fixed-length bytes).
pub(crate) fn read_as_csv(path: &str, wanted: &[&str]) -> Result<Vec<u8>, String> {
    let file = File::open(path).map_err(|e| format!("{path}: cannot read: {e}"))?;
    let reader =
        SerializedFileReader::new(file).map_err(|e| format!("{path}: not Parquet: {e}"))?;
    let schema = reader.metadata().file_metadata().schema_descr_ptr();
    // Leaf columns at the top level, by name, in the order `wanted` gives.
    let picked: Vec<(usize, std::sync::Arc<ColumnDescriptor>)> = wanted
        .iter()
        .filter_map(|name| {
            schema
                .columns()
                .iter()
                .position(|c| c.path().parts().len() == 1 && c.name() == *name)
                .and_then(|i| schema.columns().get(i).map(|c| (i, c.clone())))
        })
        .collect();
    let mut out = Vec::new();
    let header: Vec<&str> = picked.iter().map(|(_, c)| c.name()).collect();
    out.extend_from_slice(header.join(",").as_bytes());
    out.push(b'\n');
    let bad = |e: parquet::errors::ParquetError| format!("{path}: {e}");
    for g in 0..reader.num_row_groups() {
        let group = reader.get_row_group(g).map_err(bad)?;
        let rows = usize::try_from(group.metadata().num_rows()).unwrap_or(0);
        let mut columns = Vec::with_capacity(picked.len());
        for (i, col) in &picked {
            let max_def = col.max_def_level();
            let texts = match group.get_column_reader(*i).map_err(bad)? {
                ColumnReader::ByteArrayColumnReader(r) => {
                    read_column(r, rows, max_def, |v: &ByteArray, o| {
                        push_text(o, v.data());
                        Ok(())
                    })
                }
                ColumnReader::Int64ColumnReader(r) => {
                    read_column(r, rows, max_def, |v: &i64, o| push_integer(o, *v, col))
                }
                ColumnReader::Int32ColumnReader(r) => read_column(r, rows, max_def, |v: &i32, o| {
                    push_integer(o, i64::from(*v), col)
                }),
                ColumnReader::DoubleColumnReader(r) => {
                    read_column(r, rows, max_def, |v: &f64, o| {
                        push_display(o, v);
                        Ok(())
                    })
                }
                ColumnReader::FloatColumnReader(r) => {
                    read_column(r, rows, max_def, |v: &f32, o| {
                        push_display(o, v);
                        Ok(())
                    })
                }
                ColumnReader::BoolColumnReader(r) => {
                    read_column(r, rows, max_def, |v: &bool, o| {
                        push_display(o, v);
                        Ok(())
                    })
                }
                _ => Err(format!(
                    "column {} has a Parquet type with no text form here (INT96 or fixed-length bytes)",
                    col.name()
                )),
            }
            .map_err(|e| format!("{path}: {e}"))?;
            columns.push(texts);
        }
        for row in 0..rows {
            for (k, c) in columns.iter().enumerate() {
                if k > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(c.cell(row));
            }
            out.push(b'\n');
        }
    }
    Ok(out)
}
