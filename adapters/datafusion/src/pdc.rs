//! `pdc(period_start, period_end, drug, fill_date, days_supply [, threshold])`: one patient's
//! proportion of days covered under the PQA rules, by the library's
//! [`pdc_for_patient`], over the group's fills.
//!
//! The partial state is the group's fills as three lists (drug, `Date32` fill date,
//! `UInt32` days of supply), checked as the library checks fills when they come back in.

use std::sync::Arc;

use chrono::{Datelike, NaiveDate};
use clinic_ops::id::PatientId;
use clinic_ops::journey::{Category, DaysSupply, Fill};
use clinic_ops::metrics::adherence::{AdherenceThreshold, PdcOutcome, PdcPeriod, pdc_for_patient};
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Date32Array, Decimal128Array, ListArray, StringArray,
    StructArray, UInt32Array,
};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{DataType, Date32Type, Field, FieldRef, Fields, UInt32Type};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{Accumulator, AggregateUDFImpl, Signature, Volatility};

use crate::args::constant;
use crate::error::SqlFnError;

const NAME: &str = "pdc";
/// Days from 0001-01-01 (chrono's day 1 of the common era) to 1970-01-01.
const UNIX_EPOCH_FROM_CE: i32 = 719_163;

/// `pdc(period_start, period_end, drug, fill_date, days_supply [, threshold])`: see the
/// crate README.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PdcUdaf {
    signature: Signature,
}

impl PdcUdaf {
    /// The aggregate.
    #[must_use]
    pub fn new() -> Self {
        PdcUdaf {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl Default for PdcUdaf {
    fn default() -> Self {
        Self::new()
    }
}

fn output_fields() -> Fields {
    Fields::from(vec![
        Field::new("index_date", DataType::Date32, false),
        Field::new("days_in_period", DataType::UInt32, false),
        Field::new("days_covered", DataType::UInt32, false),
        Field::new("pdc", DataType::Decimal128(5, 4), false),
        Field::new("adherent", DataType::Boolean, false),
    ])
}

fn is_text(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

fn is_date_like(t: &DataType) -> bool {
    matches!(t, DataType::Date32 | DataType::Date64) || is_text(t)
}

fn date(days: i32) -> Option<NaiveDate> {
    NaiveDate::from_num_days_from_ce_opt(days.checked_add(UNIX_EPOCH_FROM_CE)?)
}

fn date_number(d: NaiveDate) -> i32 {
    d.num_days_from_ce() - UNIX_EPOCH_FROM_CE
}

impl AggregateUDFImpl for PdcUdaf {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let ok = arg_types.len() >= 5
            && arg_types.len() <= 6
            && arg_types.iter().enumerate().all(|(i, t)| match i {
                0 | 1 | 3 => is_date_like(t),
                2 => is_text(t),
                4 => t.is_integer(),
                _ => t.is_numeric(),
            });
        if !ok {
            return Err(SqlFnError::Signature {
                function: NAME,
                problem: format!(
                    "takes (period_start DATE, period_end DATE, drug TEXT, fill_date DATE, days_supply INT [, threshold]), got ({})",
                    arg_types.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
                ),
            }
            .into());
        }
        let mut out = vec![
            DataType::Date32,
            DataType::Date32,
            DataType::Utf8,
            DataType::Date32,
            DataType::Int64,
        ];
        if arg_types.len() == 6 {
            out.push(DataType::Float64);
        }
        Ok(out)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Struct(output_fields()))
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let date_arg = |i: usize, name: &'static str| -> Result<NaiveDate> {
            match constant(NAME, args.exprs, i, name)? {
                ScalarValue::Date32(Some(d)) => date(d).ok_or_else(|| {
                    SqlFnError::BadArgument {
                        function: NAME,
                        name,
                        value: d.to_string(),
                        expected: "a date",
                    }
                    .into()
                }),
                other => Err(SqlFnError::BadArgument {
                    function: NAME,
                    name,
                    value: other.to_string(),
                    expected: "a date",
                }
                .into()),
            }
        };
        let (start, end) = (date_arg(0, "period_start")?, date_arg(1, "period_end")?);
        let period = PdcPeriod::new(start, end).map_err(|e| SqlFnError::BadValue {
            function: NAME,
            name: "period",
            value: format!("{start}..={end}"),
            problem: e.to_string(),
        })?;
        let threshold = if args.exprs.len() > 5 {
            let v = constant(NAME, args.exprs, 5, "threshold")?;
            let t = match &v {
                ScalarValue::Float64(Some(t)) => AdherenceThreshold::new(*t).ok(),
                _ => None,
            };
            t.ok_or_else(|| SqlFnError::BadArgument {
                function: NAME,
                name: "threshold",
                value: v.to_string(),
                expected: "a number from 0 to 1",
            })?
        } else {
            AdherenceThreshold::DEFAULT
        };
        Ok(Box::new(PdcAccumulator {
            period,
            threshold,
            fills: Vec::new(),
        }))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let list = |name: String, item: DataType| {
            Arc::new(Field::new(
                name,
                DataType::List(Arc::new(Field::new_list_field(item, true))),
                true,
            ))
        };
        Ok(vec![
            list(format!("{}[drug]", args.name), DataType::Utf8),
            list(format!("{}[date]", args.name), DataType::Date32),
            list(format!("{}[days]", args.name), DataType::UInt32),
        ])
    }
}

/// One group's fills (the patient field is not read).
#[derive(Debug)]
struct PdcAccumulator {
    period: PdcPeriod,
    threshold: AdherenceThreshold,
    fills: Vec<Fill>,
}

/// A fill as the library checks it: drug code, date, days of supply.
fn fill(
    drug: &str,
    day: i32,
    days: i64,
) -> std::result::Result<Fill, (&'static str, String, String)> {
    let drug = Category::parse(drug).map_err(|e| ("drug", drug.to_owned(), e.to_string()))?;
    let on = date(day).ok_or_else(|| ("fill_date", day.to_string(), "not a date".to_owned()))?;
    let supply = u32::try_from(days)
        .map_err(|_| {
            (
                "days_supply",
                days.to_string(),
                "not a day count".to_owned(),
            )
        })
        .and_then(|d| {
            DaysSupply::new(d).map_err(|e| ("days_supply", days.to_string(), e.to_string()))
        })?;
    Ok(Fill::new(PatientId::new(0), drug, on, supply))
}

fn bad_state(problem: String) -> SqlFnError {
    SqlFnError::BadState {
        function: NAME,
        field: "fills",
        problem,
    }
}

impl Accumulator for PdcAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let (Some(drug), Some(day), Some(days)) = (
            values.get(2).and_then(|a| a.as_string_opt::<i32>()),
            values
                .get(3)
                .and_then(|a| a.as_primitive_opt::<Date32Type>()),
            values
                .get(4)
                .and_then(|a| a.as_primitive_opt::<datafusion::arrow::datatypes::Int64Type>()),
        ) else {
            return Err(
                bad_state("drug, fill_date or days_supply of the wrong type".to_owned()).into(),
            );
        };
        for ((drug, day), days) in drug.iter().zip(day.iter()).zip(days.iter()) {
            // A row without a drug, date or supply is no fill.
            let (Some(drug), Some(day), Some(days)) = (drug, day, days) else {
                continue;
            };
            let f =
                fill(drug, day, days).map_err(|(name, value, problem)| SqlFnError::BadValue {
                    function: NAME,
                    name,
                    value,
                    problem,
                })?;
            self.fills.push(f);
        }
        Ok(())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let fields = output_fields();
        let PdcOutcome::Measured(m) = pdc_for_patient(&self.fills, &self.period, self.threshold)
        else {
            return Ok(ScalarValue::Struct(Arc::new(StructArray::new_null(
                fields, 1,
            ))));
        };
        // The calculator's exact 4-place rounding, as a decimal of scale 4.
        let pdc: i128 = m.rounded(4).replace('.', "").parse().unwrap_or(0);
        let arrays: Vec<ArrayRef> = vec![
            Arc::new(Date32Array::from(vec![date_number(m.index_date)])),
            Arc::new(UInt32Array::from(vec![m.days_in_period])),
            Arc::new(UInt32Array::from(vec![m.days_covered])),
            Arc::new(Decimal128Array::from(vec![pdc]).with_precision_and_scale(5, 4)?),
            Arc::new(BooleanArray::from(vec![m.adherent])),
        ];
        Ok(ScalarValue::Struct(Arc::new(StructArray::try_new(
            fields, arrays, None,
        )?)))
    }

    fn size(&self) -> usize {
        size_of_val(self)
            + self.fills.capacity() * size_of::<Fill>()
            + self
                .fills
                .iter()
                .map(|f| f.drug.as_str().len())
                .sum::<usize>()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let fills = std::mem::take(&mut self.fills);
        let drugs = StringArray::from_iter_values(fills.iter().map(|f| f.drug.as_str()));
        let dates = Date32Array::from_iter_values(fills.iter().map(|f| date_number(f.filled_on)));
        let days = UInt32Array::from_iter_values(fills.iter().map(|f| f.days_supply.get()));
        let one = |values: ArrayRef, item: DataType| {
            let len = values.len();
            ScalarValue::List(Arc::new(ListArray::new(
                Arc::new(Field::new_list_field(item, true)),
                OffsetBuffer::from_lengths([len]),
                values,
                None,
            )))
        };
        Ok(vec![
            one(Arc::new(drugs), DataType::Utf8),
            one(Arc::new(dates), DataType::Date32),
            one(Arc::new(days), DataType::UInt32),
        ])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let (Some(drugs), Some(dates), Some(days)) = (
            states.first().and_then(|a| a.as_list_opt::<i32>()),
            states.get(1).and_then(|a| a.as_list_opt::<i32>()),
            states.get(2).and_then(|a| a.as_list_opt::<i32>()),
        ) else {
            return Err(bad_state("expected lists of drugs, dates and days".to_owned()).into());
        };
        if drugs.len() != dates.len() || drugs.len() != days.len() {
            return Err(bad_state("lists of different lengths".to_owned()).into());
        }
        for row in 0..drugs.len() {
            if drugs.is_null(row) {
                continue;
            }
            let (a, b, c) = (drugs.value(row), dates.value(row), days.value(row));
            let (Some(a), Some(b), Some(c)) = (
                a.as_string_opt::<i32>(),
                b.as_primitive_opt::<Date32Type>(),
                c.as_primitive_opt::<UInt32Type>(),
            ) else {
                return Err(bad_state("expected Utf8, Date32 and UInt32 lists".to_owned()).into());
            };
            if a.len() != b.len()
                || a.len() != c.len()
                || a.null_count() + b.null_count() + c.null_count() > 0
            {
                return Err(bad_state(format!(
                    "{} drugs, {} dates and {} supplies",
                    a.len(),
                    b.len(),
                    c.len()
                ))
                .into());
            }
            for i in 0..a.len() {
                let f = fill(a.value(i), b.value(i), i64::from(c.value(i))).map_err(
                    |(name, value, problem)| bad_state(format!("{name} {value}: {problem}")),
                )?;
                self.fills.push(f);
            }
        }
        Ok(())
    }
}
