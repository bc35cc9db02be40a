//! `retention_cohort(period, periods, timestamp [, utc_offset])`: one patient's first-time
//! cohort and the periods in which they came back, by the library's
//! [`retention_indexed`] in the clinic's calendar; and `retention_report(cohort)`, which adds
//! those up into the `retention` calculator's matrix.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{Datelike, NaiveDate};
use clinic_ops::calendar::{ClinicCalendar, Period};
use clinic_ops::metrics::retention::{RetentionSpec, retention_indexed};
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Date32Array, Int64Array, ListArray, StringArray,
    StructArray,
};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{DataType, Date32Type, Field, FieldRef, Fields, Int64Type};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{Accumulator, AggregateUDFImpl, Signature, Volatility};
use serde::{Deserialize, Serialize};

use crate::args::{constant_i64, constant_str, is_time_type, seconds, time_target};
use crate::error::SqlFnError;

const COHORT: &str = "retention_cohort";
const REPORT: &str = "retention_report";
/// Days from 0001-01-01 (chrono's day 1 of the common era) to 1970-01-01.
const UNIX_EPOCH_FROM_CE: i32 = 719_163;

fn cohort_fields() -> Fields {
    Fields::from(vec![
        Field::new("period", DataType::Utf8, false),
        Field::new("cohort", DataType::Date32, false),
        Field::new(
            "retained",
            DataType::List(Arc::new(Field::new_list_field(DataType::Boolean, true))),
            false,
        ),
    ])
}

fn list_of(values: ArrayRef, item: DataType) -> ListArray {
    let len = values.len();
    ListArray::new(
        Arc::new(Field::new_list_field(item, true)),
        OffsetBuffer::from_lengths([len]),
        values,
        None,
    )
}

/// `retention_cohort(period, periods, timestamp [, utc_offset])`: see the crate README.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RetentionCohortUdaf {
    signature: Signature,
}

impl RetentionCohortUdaf {
    /// The aggregate.
    #[must_use]
    pub fn new() -> Self {
        RetentionCohortUdaf {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl Default for RetentionCohortUdaf {
    fn default() -> Self {
        Self::new()
    }
}

fn is_text(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

impl AggregateUDFImpl for RetentionCohortUdaf {
    fn name(&self) -> &str {
        COHORT
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let ok = matches!(arg_types.len(), 3 | 4)
            && arg_types.iter().enumerate().all(|(i, t)| match i {
                0 | 3 => is_text(t),
                1 => t.is_integer(),
                _ => is_time_type(t),
            });
        if !ok {
            return Err(SqlFnError::Signature {
                function: COHORT,
                problem: format!(
                    "takes (period TEXT, periods INT, timestamp [, utc_offset TEXT]), got ({})",
                    arg_types
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }
            .into());
        }
        Ok(arg_types
            .iter()
            .enumerate()
            .map(|(i, t)| match i {
                0 | 3 => DataType::Utf8,
                1 => DataType::Int64,
                _ => time_target(t),
            })
            .collect())
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Struct(cohort_fields()))
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let name = constant_str(
            COHORT,
            args.exprs,
            0,
            "period",
            "'day', 'week', 'month' or 'year'",
        )?;
        let period = match name.as_str() {
            "day" => Period::Day,
            "week" => Period::Week,
            "month" => Period::Month,
            "year" => Period::Year,
            _ => {
                return Err(SqlFnError::BadArgument {
                    function: COHORT,
                    name: "period",
                    value: name,
                    expected: "'day', 'week', 'month' or 'year'",
                }
                .into());
            }
        };
        let periods = constant_i64(COHORT, args.exprs, 1, "periods", "a count of periods")?;
        let spec = u32::try_from(periods)
            .map_err(|_| SqlFnError::BadArgument {
                function: COHORT,
                name: "periods",
                value: periods.to_string(),
                expected: "a count of periods",
            })
            .and_then(|n| {
                RetentionSpec::new(period, n).map_err(|e| SqlFnError::BadValue {
                    function: COHORT,
                    name: "periods",
                    value: periods.to_string(),
                    problem: e.to_string(),
                })
            })?;
        let calendar = if args.exprs.len() > 3 {
            let tz = constant_str(
                COHORT,
                args.exprs,
                3,
                "utc_offset",
                "an offset such as '+08:00'",
            )?;
            ClinicCalendar::parse(&tz).map_err(|e| SqlFnError::BadValue {
                function: COHORT,
                name: "utc_offset",
                value: tz.clone(),
                problem: e.to_string(),
            })?
        } else {
            ClinicCalendar::default()
        };
        Ok(Box::new(CohortAccumulator {
            period_name: name,
            spec,
            calendar,
            at: Vec::new(),
        }))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![Arc::new(Field::new(
            format!("{}[ts]", args.name),
            DataType::List(Arc::new(Field::new_list_field(DataType::Int64, true))),
            true,
        ))])
    }
}

/// One patient's visit times.
#[derive(Debug)]
struct CohortAccumulator {
    period_name: String,
    spec: RetentionSpec,
    calendar: ClinicCalendar,
    at: Vec<i64>,
}

impl Accumulator for CohortAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let Some(ts) = values.get(2) else {
            return Ok(());
        };
        self.at.extend(seconds(ts)?.into_iter().flatten());
        Ok(())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let fields = cohort_fields();
        let patients = vec![0u32; self.at.len()];
        let m = retention_indexed(&patients, &self.at, &self.spec, self.calendar).map_err(|e| {
            SqlFnError::BadValue {
                function: COHORT,
                name: "timestamp",
                value: "a visit".to_owned(),
                problem: e.to_string(),
            }
        })?;
        let Some(c) = m.cohorts().first() else {
            return Ok(ScalarValue::Struct(Arc::new(StructArray::new_null(
                fields, 1,
            ))));
        };
        let retained = BooleanArray::from(c.retained.iter().map(|&n| n > 0).collect::<Vec<_>>());
        let arrays: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(vec![self.period_name.clone()])),
            Arc::new(Date32Array::from(vec![
                c.start.num_days_from_ce() - UNIX_EPOCH_FROM_CE,
            ])),
            Arc::new(list_of(Arc::new(retained), DataType::Boolean)),
        ];
        Ok(ScalarValue::Struct(Arc::new(StructArray::try_new(
            fields, arrays, None,
        )?)))
    }

    fn size(&self) -> usize {
        size_of_val(self) + self.at.capacity() * 8 + self.period_name.len()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let at = std::mem::take(&mut self.at);
        Ok(vec![ScalarValue::List(Arc::new(list_of(
            Arc::new(Int64Array::from(at)),
            DataType::Int64,
        )))])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let bad = |problem: String| SqlFnError::BadState {
            function: COHORT,
            field: "ts",
            problem,
        };
        let list = states
            .first()
            .and_then(|a| a.as_list_opt::<i32>())
            .ok_or_else(|| bad("expected a list of times".to_owned()))?;
        for row in 0..list.len() {
            if list.is_null(row) {
                continue;
            }
            let v = list.value(row);
            let v = v
                .as_primitive_opt::<Int64Type>()
                .filter(|v| v.null_count() == 0)
                .ok_or_else(|| bad("expected Int64 times without nulls".to_owned()))?;
            self.at.extend_from_slice(v.values());
        }
        Ok(())
    }
}

/// `retention_report(cohort)`: see the crate README.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RetentionReportUdaf {
    signature: Signature,
}

impl RetentionReportUdaf {
    /// The aggregate.
    #[must_use]
    pub fn new() -> Self {
        RetentionReportUdaf {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl Default for RetentionReportUdaf {
    fn default() -> Self {
        Self::new()
    }
}

/// The matrix so far: cohort start (Unix day) to its size and retained counts.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Matrix {
    period: Option<String>,
    cohorts: BTreeMap<i32, Vec<u64>>,
}

impl Matrix {
    /// Adds a cohort row, checking that it is one this crate produces: the period of the
    /// others, as many periods, every count at most the cohort's size (`retained[0]`).
    fn add(&mut self, period: &str, start: i32, row: &[u64], field: &'static str) -> Result<()> {
        let bad = |problem: String| SqlFnError::BadState {
            function: REPORT,
            field,
            problem,
        };
        let size = row
            .first()
            .copied()
            .ok_or_else(|| bad("an empty cohort row".to_owned()))?;
        if row.iter().any(|&n| n > size) {
            return Err(bad(format!(
                "cohort {start}: a count above the cohort size {size}"
            ))
            .into());
        }
        match &self.period {
            Some(p) if p != period => {
                return Err(bad(format!("periods {p} and {period} cannot be added")).into());
            }
            Some(_) => {}
            None => self.period = Some(period.to_owned()),
        }
        if let Some(n) = self.cohorts.values().next().map(Vec::len)
            && n != row.len()
        {
            return Err(bad(format!("rows of {n} and {} periods", row.len())).into());
        }
        let cell = self
            .cohorts
            .entry(start)
            .or_insert_with(|| vec![0; row.len()]);
        for (a, b) in cell.iter_mut().zip(row) {
            *a = a
                .checked_add(*b)
                .ok_or_else(|| bad(format!("cohort {start}: counts past u64::MAX")))?;
        }
        Ok(())
    }
}

impl AggregateUDFImpl for RetentionReportUdaf {
    fn name(&self) -> &str {
        REPORT
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        match arg_types {
            [DataType::Struct(f)] if *f == cohort_fields() => Ok(arg_types.to_vec()),
            _ => Err(SqlFnError::Signature {
                function: REPORT,
                problem: "takes (cohort), the result of retention_cohort".to_owned(),
            }
            .into()),
        }
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(ReportAccumulator {
            matrix: Matrix::default(),
        }))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![Arc::new(Field::new(
            format!("{}[matrix]", args.name),
            DataType::Binary,
            true,
        ))])
    }
}

#[derive(Debug)]
struct ReportAccumulator {
    matrix: Matrix,
}

/// The report row of the `retention` calculator.
#[derive(Serialize)]
struct CohortRow {
    start: NaiveDate,
    size: u64,
    retained: Vec<u64>,
}

impl Accumulator for ReportAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let bad = |problem: &str| SqlFnError::BadState {
            function: REPORT,
            field: "cohort",
            problem: problem.to_owned(),
        };
        let Some(s) = values.first().and_then(|a| a.as_struct_opt()) else {
            return Err(bad("expected a retention_cohort struct").into());
        };
        let (Some(period), Some(start), Some(retained)) = (
            s.column(0).as_string_opt::<i32>(),
            s.column(1).as_primitive_opt::<Date32Type>(),
            s.column(2).as_list_opt::<i32>(),
        ) else {
            return Err(bad("expected period, cohort and retained").into());
        };
        for i in 0..s.len() {
            if s.is_null(i) {
                continue;
            }
            let r = retained.value(i);
            let r = r.as_boolean_opt().ok_or_else(|| bad("expected booleans"))?;
            let row: Vec<u64> = r.iter().map(|b| u64::from(b == Some(true))).collect();
            self.matrix
                .add(period.value(i), start.value(i), &row, "cohort")?;
        }
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let bad = |problem: String| SqlFnError::BadState {
            function: REPORT,
            field: "matrix",
            problem,
        };
        let col = states
            .first()
            .and_then(|a| a.as_binary_opt::<i32>())
            .ok_or_else(|| bad("expected Binary".to_owned()))?;
        for bytes in col.iter().flatten() {
            let other: Matrix = ciborium::from_reader(bytes).map_err(|e| bad(e.to_string()))?;
            let period = other.period.clone().unwrap_or_default();
            for (start, row) in &other.cohorts {
                self.matrix.add(&period, *start, row, "matrix")?;
            }
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let mut bytes = Vec::new();
        ciborium::into_writer(&self.matrix, &mut bytes).map_err(|e| SqlFnError::BadState {
            function: REPORT,
            field: "matrix",
            problem: e.to_string(),
        })?;
        Ok(vec![ScalarValue::Binary(Some(bytes))])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let cohorts: Vec<CohortRow> = self
            .matrix
            .cohorts
            .iter()
            .filter_map(|(&d, row)| {
                let start =
                    NaiveDate::from_num_days_from_ce_opt(d.checked_add(UNIX_EPOCH_FROM_CE)?)?;
                Some(CohortRow {
                    start,
                    size: row.first().copied().unwrap_or(0),
                    retained: row.clone(),
                })
            })
            .collect();
        let json = serde_json::json!({
            "period": self.matrix.period.clone().unwrap_or_default(),
            "cohorts": cohorts,
        });
        Ok(ScalarValue::Utf8(Some(json.to_string())))
    }

    fn size(&self) -> usize {
        size_of_val(self)
            + self
                .matrix
                .cohorts
                .values()
                .map(|r| r.len() * 8 + 48)
                .sum::<usize>()
    }
}
