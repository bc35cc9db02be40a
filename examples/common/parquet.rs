//! Parquet input for the calculators (`CALCULATORS.md`: `--input FILE.parquet` reads the
//! same columns as the CSV). Only the columns a calculator names are decoded, as Arrow arrays
//! (the `parquet` crate's arrow reader), on one thread per share of the row groups, and each
//! calculator takes its values straight from the arrays: text columns as the bytes the array
//! holds, integers, dates and timestamps as numbers. A cell means what its CSV text would:
//! [`Col::text`] gives that text for the rare cell a loader has no typed path for, so a
//! Parquet file gets exactly the CSV's checks and answers, and its `line N` is row `N - 2` of
//! the file (0-based), as in a CSV with a header.
//!
//! `#[path]`-included by each calculator, so each compiles the parts it uses.
#![allow(dead_code)]

use std::fs::File;
use std::io::Write;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Date64Type, Decimal128Type, Float32Type, Float64Type, Int8Type, Int16Type,
    Int32Type, Int64Type, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use arrow_array::{Array, ArrowPrimitiveType, PrimitiveArray, RecordBatch};
use arrow_schema::{DataType, TimeUnit};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
};

/// Whether a path names a Parquet file (the format is chosen by the extension).
pub(crate) fn is_parquet(path: &str) -> bool {
    std::path::Path::new(path)
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("parquet"))
}

/// Rows decoded at a time: big enough to amortise the per-batch work, small enough that a
/// batch's columns stay in cache while a loader walks them.
const BATCH_ROWS: usize = 32 * 1024;

/// Why a Parquet input failed.
#[derive(Debug)]
pub(crate) enum Fail {
    /// Bad input at a CSV line number (row + 2).
    Line(usize, String),
    /// The file as a whole: unreadable, not Parquet, or a column with no text form.
    File(String),
}

impl Fail {
    /// The message as the calculators print it: `line N: reason` or `FILE: reason`.
    pub(crate) fn message(&self) -> String {
        match self {
            Fail::Line(line, why) => format!("line {line}: {why}"),
            Fail::File(why) => why.clone(),
        }
    }
}

/// An opened file: its metadata and which of the wanted columns it has.
pub(crate) struct Parquet {
    path: String,
    meta: ArrowReaderMetadata,
    /// The wanted columns the file has, in the order `wanted` gave: a loader reads them as it
    /// would a CSV header, and [`Batch::col`] takes positions in this list.
    pub(crate) names: Vec<String>,
    /// For each name, its top-level field in the file.
    fields: Vec<usize>,
}

/// Opens `path` and finds the columns named in `wanted` (those the file lacks are left to
/// the loader, which names a missing required one).
///
/// # Errors
///
/// A message naming the file: it cannot be opened or is not Parquet.
pub(crate) fn open(path: &str, wanted: &[&str]) -> Result<Parquet, String> {
    let file = File::open(path).map_err(|e| format!("{path}: cannot read: {e}"))?;
    let meta = ArrowReaderMetadata::load(&file, ArrowReaderOptions::new())
        .map_err(|e| format!("{path}: not Parquet: {e}"))?;
    let schema = meta.schema().clone();
    let mut names = Vec::new();
    let mut fields = Vec::new();
    for name in wanted {
        // Top-level leaf columns only, as a CSV has: a nested field is no column here.
        let found = schema.fields().iter().position(|f| {
            f.name() == name
                && !matches!(
                    f.data_type(),
                    DataType::Struct(_)
                        | DataType::List(_)
                        | DataType::LargeList(_)
                        | DataType::Map(_, _)
                )
        });
        if let Some(i) = found {
            names.push((*name).to_owned());
            fields.push(i);
        }
    }
    Ok(Parquet {
        path: path.to_owned(),
        meta,
        names,
        fields,
    })
}

impl Parquet {
    /// The header a CSV with these columns would have.
    pub(crate) fn header(&self) -> String {
        self.names.join(",")
    }

    /// Rows in the file.
    pub(crate) fn rows(&self) -> usize {
        usize::try_from(self.meta.metadata().file_metadata().num_rows()).unwrap_or(0)
    }

    /// Decodes the row groups on up to `threads` threads, each taking a contiguous share of
    /// them in file order, and hands each batch to `each` with that thread's state. The
    /// states come back in file order, so concatenating them gives the rows in order; the
    /// first failure in file order wins, as a sequential reader would report it.
    ///
    /// # Errors
    ///
    /// `each`'s failure, or the file's when a row group cannot be decoded.
    pub(crate) fn scan<S, F>(&self, threads: usize, each: F) -> Result<Vec<S>, Fail>
    where
        S: Default + Send,
        F: Fn(&mut S, &Batch<'_>) -> Result<(), Fail> + Sync,
    {
        let groups: Vec<usize> = self
            .meta
            .metadata()
            .row_groups()
            .iter()
            .map(|g| usize::try_from(g.num_rows()).unwrap_or(0))
            .collect();
        let threads = threads.clamp(1, groups.len().max(1));
        // Contiguous shares of about equal rows.
        let total: usize = groups.iter().sum();
        let mut shares: Vec<(Vec<usize>, usize)> = Vec::with_capacity(threads);
        let (mut first_row, mut acc, mut current) = (0usize, 0usize, Vec::new());
        let mut share_first = 0usize;
        for (g, rows) in groups.iter().enumerate() {
            if !current.is_empty()
                && shares.len() + 1 < threads
                && acc * threads >= total * (shares.len() + 1)
            {
                shares.push((std::mem::take(&mut current), share_first));
                share_first = first_row;
            }
            current.push(g);
            acc += rows;
            first_row += rows;
        }
        shares.push((current, share_first));
        let run = |(groups, first): &(Vec<usize>, usize)| self.scan_groups(groups, *first, &each);
        let results: Vec<Result<S, Fail>> = std::thread::scope(|s| {
            let handles: Vec<_> = shares
                .iter()
                .skip(1)
                .map(|sh| s.spawn(|| run(sh)))
                .collect();
            let mut all = vec![shares.first().map_or_else(|| Ok(S::default()), run)];
            for h in handles {
                all.push(h.join().unwrap_or_else(|_| {
                    Err(Fail::File(format!("{}: a reader thread failed", self.path)))
                }));
            }
            all
        });
        results.into_iter().collect()
    }

    fn scan_groups<S: Default, F>(
        &self,
        groups: &[usize],
        first: usize,
        each: &F,
    ) -> Result<S, Fail>
    where
        F: Fn(&mut S, &Batch<'_>) -> Result<(), Fail>,
    {
        let mut state = S::default();
        if groups.is_empty() {
            return Ok(state);
        }
        let bad = |e: &dyn std::fmt::Display| Fail::File(format!("{}: {e}", self.path));
        // Each thread its own file handle: a cloned handle would share the file position.
        let file = File::open(&self.path).map_err(|e| bad(&e))?;
        let mask = ProjectionMask::roots(self.meta.parquet_schema(), self.fields.iter().copied());
        let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(file, self.meta.clone())
            .with_projection(mask)
            .with_row_groups(groups.to_vec())
            .with_batch_size(BATCH_ROWS)
            .build()
            .map_err(|e| bad(&e))?;
        let mut row = first;
        for batch in reader {
            let batch = batch.map_err(|e| bad(&e))?;
            let cols = self
                .names
                .iter()
                .map(|name| {
                    let array = batch.column_by_name(name).ok_or_else(|| {
                        bad(&format!("column {name} is missing from a row group"))
                    })?;
                    Col::new(array.as_ref()).ok_or_else(|| {
                        bad(&format!(
                            "column {name} has a type with no text form here ({})",
                            array.data_type()
                        ))
                    })
                })
                .collect::<Result<Vec<_>, Fail>>()?;
            let view = Batch {
                first_row: row,
                rows: batch.num_rows(),
                cols,
                _batch: &batch,
            };
            each(&mut state, &view)?;
            row += batch.num_rows();
        }
        Ok(state)
    }
}

/// One decoded batch of rows.
pub(crate) struct Batch<'a> {
    /// The file's row index of the batch's first row (0-based): row `r` is CSV line `r + 2`.
    pub(crate) first_row: usize,
    pub(crate) rows: usize,
    cols: Vec<Col<'a>>,
    _batch: &'a RecordBatch,
}

impl<'a> Batch<'a> {
    /// The column at position `k` of [`Parquet::names`].
    pub(crate) fn col(&self, k: usize) -> Option<&Col<'a>> {
        self.cols.get(k)
    }

    /// The CSV line number of row `i` of this batch.
    pub(crate) fn line(&self, i: usize) -> usize {
        self.first_row + i + 2
    }
}

/// How an integer column's values read as text.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Form {
    /// The number itself.
    Plain,
    /// Days since 1970-01-01, read as `YYYY-MM-DD`.
    Date,
    /// A timestamp already in whole seconds.
    Seconds,
    /// A decimal with this many places.
    Decimal(u32),
}

/// A column of a batch, by the cell type a loader cares about.
pub(crate) enum Col<'a> {
    /// Text (or bytes), read in place.
    Text(Texts<'a>),
    /// Integers, dates, timestamps (in seconds) and decimals (unscaled).
    Ints(Vec<Option<i128>>, Form),
    /// Floating-point numbers, as `f64` (`f32` ones kept as `f32` text).
    Floats(Vec<Option<f64>>, bool),
    /// Booleans.
    Bools(Vec<Option<bool>>),
    /// Dictionary-encoded: each row's index into the values, and the values.
    Dict(Vec<Option<usize>>, Box<Col<'a>>),
}

/// A text column in any of Arrow's layouts.
pub(crate) enum Texts<'a> {
    Utf8(&'a arrow_array::StringArray),
    LargeUtf8(&'a arrow_array::LargeStringArray),
    Utf8View(&'a arrow_array::StringViewArray),
    Binary(&'a arrow_array::BinaryArray),
    LargeBinary(&'a arrow_array::LargeBinaryArray),
    BinaryView(&'a arrow_array::BinaryViewArray),
}

fn ints<T: ArrowPrimitiveType>(
    a: &PrimitiveArray<T>,
    f: impl Fn(T::Native) -> i128,
) -> Vec<Option<i128>> {
    a.iter().map(|v| v.map(&f)).collect()
}

impl<'a> Col<'a> {
    fn new(a: &'a dyn Array) -> Option<Col<'a>> {
        let per = |unit: &TimeUnit| match unit {
            TimeUnit::Second => 1i128,
            TimeUnit::Millisecond => 1_000,
            TimeUnit::Microsecond => 1_000_000,
            TimeUnit::Nanosecond => 1_000_000_000,
        };
        Some(match a.data_type() {
            DataType::Utf8 => Col::Text(Texts::Utf8(a.as_string_opt::<i32>()?)),
            DataType::LargeUtf8 => Col::Text(Texts::LargeUtf8(a.as_string_opt::<i64>()?)),
            DataType::Utf8View => Col::Text(Texts::Utf8View(a.as_string_view_opt()?)),
            DataType::Binary => Col::Text(Texts::Binary(a.as_binary_opt::<i32>()?)),
            DataType::LargeBinary => Col::Text(Texts::LargeBinary(a.as_binary_opt::<i64>()?)),
            DataType::BinaryView => Col::Text(Texts::BinaryView(a.as_binary_view_opt()?)),
            DataType::Int8 => Col::Ints(
                ints(a.as_primitive_opt::<Int8Type>()?, i128::from),
                Form::Plain,
            ),
            DataType::Int16 => Col::Ints(
                ints(a.as_primitive_opt::<Int16Type>()?, i128::from),
                Form::Plain,
            ),
            DataType::Int32 => Col::Ints(
                ints(a.as_primitive_opt::<Int32Type>()?, i128::from),
                Form::Plain,
            ),
            DataType::Int64 => Col::Ints(
                ints(a.as_primitive_opt::<Int64Type>()?, i128::from),
                Form::Plain,
            ),
            DataType::UInt8 => Col::Ints(
                ints(a.as_primitive_opt::<UInt8Type>()?, i128::from),
                Form::Plain,
            ),
            DataType::UInt16 => Col::Ints(
                ints(a.as_primitive_opt::<UInt16Type>()?, i128::from),
                Form::Plain,
            ),
            DataType::UInt32 => Col::Ints(
                ints(a.as_primitive_opt::<UInt32Type>()?, i128::from),
                Form::Plain,
            ),
            DataType::UInt64 => Col::Ints(
                ints(a.as_primitive_opt::<UInt64Type>()?, i128::from),
                Form::Plain,
            ),
            DataType::Date32 => Col::Ints(
                ints(a.as_primitive_opt::<Date32Type>()?, i128::from),
                Form::Date,
            ),
            DataType::Date64 => Col::Ints(
                ints(a.as_primitive_opt::<Date64Type>()?, |ms| {
                    i128::from(ms).div_euclid(86_400_000)
                }),
                Form::Date,
            ),
            DataType::Timestamp(unit, _) => {
                let d = per(unit);
                let secs = move |v: i64| i128::from(v).div_euclid(d);
                let v = match unit {
                    TimeUnit::Second => ints(a.as_primitive_opt::<TimestampSecondType>()?, secs),
                    TimeUnit::Millisecond => {
                        ints(a.as_primitive_opt::<TimestampMillisecondType>()?, secs)
                    }
                    TimeUnit::Microsecond => {
                        ints(a.as_primitive_opt::<TimestampMicrosecondType>()?, secs)
                    }
                    TimeUnit::Nanosecond => {
                        ints(a.as_primitive_opt::<TimestampNanosecondType>()?, secs)
                    }
                };
                Col::Ints(v, Form::Seconds)
            }
            DataType::Decimal128(_, scale) => {
                let scale = u32::try_from(*scale).ok()?;
                Col::Ints(
                    ints(a.as_primitive_opt::<Decimal128Type>()?, |v| v),
                    Form::Decimal(scale),
                )
            }
            DataType::Float32 => Col::Floats(
                a.as_primitive_opt::<Float32Type>()?
                    .iter()
                    .map(|v| v.map(f64::from))
                    .collect(),
                true,
            ),
            DataType::Float64 => {
                Col::Floats(a.as_primitive_opt::<Float64Type>()?.iter().collect(), false)
            }
            DataType::Boolean => Col::Bools(a.as_boolean_opt()?.iter().collect()),
            DataType::Null => Col::Bools(vec![None; a.len()]),
            DataType::Dictionary(_, _) => {
                let d = a.as_any_dictionary_opt()?;
                let keys = d.normalized_keys();
                let rows = (0..a.len())
                    .map(|i| (!a.is_null(i)).then(|| keys.get(i).copied()).flatten())
                    .collect();
                Col::Dict(rows, Box::new(Col::new(d.values().as_ref())?))
            }
            _ => return None,
        })
    }

    /// A text column's bytes at row `i` (`None` for a null cell or another type).
    #[inline]
    pub(crate) fn bytes(&self, i: usize) -> Option<&[u8]> {
        match self {
            Col::Text(t) => t.bytes(i),
            Col::Dict(rows, values) => values.bytes((*rows.get(i)?)?),
            _ => None,
        }
    }

    /// The cell as an integer where its text is exactly that integer (plain integers and
    /// timestamps in seconds that fit an `i64`); `None` otherwise.
    #[inline]
    pub(crate) fn integer(&self, i: usize) -> Option<i64> {
        match self {
            Col::Ints(v, Form::Plain | Form::Seconds) => i64::try_from((*v.get(i)?)?).ok(),
            Col::Dict(rows, values) => values.integer((*rows.get(i)?)?),
            _ => None,
        }
    }

    /// A date column's day number (days since 1970-01-01); `None` otherwise.
    #[inline]
    pub(crate) fn day(&self, i: usize) -> Option<i64> {
        match self {
            Col::Ints(v, Form::Date) => i64::try_from((*v.get(i)?)?).ok(),
            Col::Dict(rows, values) => values.day((*rows.get(i)?)?),
            _ => None,
        }
    }

    /// The cell's CSV text: text as it is, numbers, dates (`YYYY-MM-DD`), timestamps (whole
    /// seconds) and decimals written out, a null cell empty. Text is borrowed; other cells
    /// are written into `scratch`.
    ///
    /// # Errors
    ///
    /// A date or decimal out of range.
    pub(crate) fn text<'s>(
        &'s self,
        i: usize,
        scratch: &'s mut Vec<u8>,
    ) -> Result<&'s [u8], String> {
        scratch.clear();
        // Writing to a Vec cannot fail.
        match self {
            Col::Text(t) => return Ok(t.bytes(i).unwrap_or(&[])),
            Col::Dict(rows, values) => {
                return match rows.get(i).copied().flatten() {
                    Some(k) => values.text(k, scratch),
                    None => Ok(&[]),
                };
            }
            Col::Ints(v, form) => {
                if let Some(x) = v.get(i).copied().flatten() {
                    match form {
                        Form::Plain | Form::Seconds => {
                            let _ = write!(scratch, "{x}");
                        }
                        Form::Date => {
                            let day = i64::try_from(x)
                                .ok()
                                .and_then(chrono::TimeDelta::try_days)
                                .and_then(|d| {
                                    chrono::DateTime::UNIX_EPOCH
                                        .date_naive()
                                        .checked_add_signed(d)
                                })
                                .ok_or_else(|| format!("day {x} is out of range"))?;
                            let _ = write!(scratch, "{}", day.format("%Y-%m-%d"));
                        }
                        Form::Decimal(scale) => {
                            let dec = rust_decimal::Decimal::try_from_i128_with_scale(x, *scale)
                                .map_err(|e| format!("decimal {x}: {e}"))?;
                            let _ = write!(scratch, "{dec}");
                        }
                    }
                }
            }
            Col::Floats(v, single) => {
                if let Some(x) = v.get(i).copied().flatten() {
                    if *single {
                        let _ = write!(scratch, "{}", x as f32);
                    } else {
                        let _ = write!(scratch, "{x}");
                    }
                }
            }
            Col::Bools(v) => {
                if let Some(x) = v.get(i).copied().flatten() {
                    let _ = write!(scratch, "{x}");
                }
            }
        }
        Ok(scratch.as_slice())
    }
}

impl Texts<'_> {
    #[inline]
    fn bytes(&self, i: usize) -> Option<&[u8]> {
        macro_rules! cell {
            ($a:expr, $v:expr) => {
                if i >= $a.len() || $a.is_null(i) {
                    None
                } else {
                    Some($v)
                }
            };
        }
        match self {
            Texts::Utf8(a) => cell!(a, a.value(i).as_bytes()),
            Texts::LargeUtf8(a) => cell!(a, a.value(i).as_bytes()),
            Texts::Utf8View(a) => cell!(a, a.value(i).as_bytes()),
            Texts::Binary(a) => cell!(a, a.value(i)),
            Texts::LargeBinary(a) => cell!(a, a.value(i)),
            Texts::BinaryView(a) => cell!(a, a.value(i)),
        }
    }
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

/// Reads the columns named in `wanted` that the file has as CSV text with a header row, for
/// the calculators whose inputs are small (`referral`'s three files): the same cells as
/// [`Col::text`] gives the others.
///
/// # Errors
///
/// A message naming the file, or a cell's line and reason.
pub(crate) fn read_as_csv(path: &str, wanted: &[&str]) -> Result<Vec<u8>, String> {
    let file = open(path, wanted)?;
    let mut out = file.header().into_bytes();
    out.push(b'\n');
    let width = file.names.len();
    let parts: Vec<Vec<u8>> = file
        .scan(1, |text: &mut Vec<u8>, b| {
            let mut scratch = Vec::new();
            for i in 0..b.rows {
                for k in 0..width {
                    if k > 0 {
                        text.push(b',');
                    }
                    if let Some(c) = b.col(k) {
                        let cell = c
                            .text(i, &mut scratch)
                            .map_err(|why| Fail::Line(b.line(i), why))?;
                        push_text(text, cell);
                    }
                }
                text.push(b'\n');
            }
            Ok(())
        })
        .map_err(|e| e.message())?;
    for p in parts {
        out.extend_from_slice(&p);
    }
    Ok(out)
}
