//! Reading the constant arguments and the timestamp column of a call.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::datatypes::{
    DataType, Int64Type, Schema, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType,
};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::ColumnarValue;
use datafusion::physical_expr::PhysicalExpr;

use crate::error::SqlFnError;

/// The value of a constant argument: the expression evaluated on an empty batch, which
/// only literals (and casts of them) survive.
pub(crate) fn constant(
    function: &'static str,
    exprs: &[Arc<dyn PhysicalExpr>],
    position: usize,
    name: &'static str,
) -> Result<ScalarValue> {
    let not_constant = || SqlFnError::NotConstant {
        function,
        position: position + 1,
        name,
    };
    let expr = exprs.get(position).ok_or_else(not_constant)?;
    let batch = RecordBatch::new_empty(Arc::new(Schema::empty()));
    match expr.evaluate(&batch) {
        Ok(ColumnarValue::Scalar(s)) => Ok(s),
        _ => Err(not_constant().into()),
    }
}

/// A constant integer argument.
pub(crate) fn constant_i64(
    function: &'static str,
    exprs: &[Arc<dyn PhysicalExpr>],
    position: usize,
    name: &'static str,
    expected: &'static str,
) -> Result<i64> {
    let v = constant(function, exprs, position, name)?;
    let bad = |v: &ScalarValue| SqlFnError::BadArgument {
        function,
        name,
        value: v.to_string(),
        expected,
    };
    let as_i64 = v.cast_to(&DataType::Int64).map_err(|_| bad(&v))?;
    match as_i64 {
        ScalarValue::Int64(Some(n)) => Ok(n),
        _ => Err(bad(&v).into()),
    }
}

/// A constant text argument.
pub(crate) fn constant_str(
    function: &'static str,
    exprs: &[Arc<dyn PhysicalExpr>],
    position: usize,
    name: &'static str,
    expected: &'static str,
) -> Result<String> {
    let v = constant(function, exprs, position, name)?;
    match text_of(&v) {
        Some(s) => Ok(s.to_owned()),
        None => Err(SqlFnError::BadArgument {
            function,
            name,
            value: v.to_string(),
            expected,
        }
        .into()),
    }
}

/// Whether a column of this type can be a timestamp argument: integer Unix seconds or a
/// SQL timestamp of any unit.
pub(crate) fn is_time_type(t: &DataType) -> bool {
    t.is_integer() || matches!(t, DataType::Timestamp(_, _))
}

/// The type a timestamp argument is cast to: integers widen to `Int64`, timestamps keep
/// their unit and zone (they are read unit by unit, flooring to whole seconds).
pub(crate) fn time_target(t: &DataType) -> DataType {
    match t {
        DataType::Timestamp(_, _) => t.clone(),
        _ => DataType::Int64,
    }
}

/// The timestamps of a column in whole Unix seconds (floored), `None` where null.
pub(crate) fn seconds(col: &ArrayRef) -> Result<Vec<Option<i64>>> {
    let (values, nulls, per_second) = raw_times(col)?;
    Ok(values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            nulls
                .is_none_or(|n| n.is_valid(i))
                .then(|| v.div_euclid(per_second))
        })
        .collect())
}

/// A timestamp column as it is stored: its `i64` values, its nulls, and the units per
/// second to floor them by. Every accepted time type is 64-bit, so reading the values in
/// place spares an `Option` per row on the hot path of `window_funnel`.
pub(crate) fn raw_times(col: &ArrayRef) -> Result<(&[i64], Option<&NullBuffer>, i64)> {
    fn read<T: datafusion::arrow::datatypes::ArrowPrimitiveType<Native = i64>>(
        col: &ArrayRef,
        per_second: i64,
    ) -> (&[i64], Option<&NullBuffer>, i64) {
        let a = col.as_primitive::<T>();
        (a.values(), a.nulls(), per_second)
    }
    Ok(match col.data_type() {
        DataType::Int64 => read::<Int64Type>(col, 1),
        DataType::Timestamp(TimeUnit::Second, _) => read::<TimestampSecondType>(col, 1),
        DataType::Timestamp(TimeUnit::Millisecond, _) => {
            read::<TimestampMillisecondType>(col, 1_000)
        }
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            read::<TimestampMicrosecondType>(col, 1_000_000)
        }
        DataType::Timestamp(TimeUnit::Nanosecond, _) => {
            read::<TimestampNanosecondType>(col, 1_000_000_000)
        }
        other => {
            return Err(SqlFnError::Signature {
                function: "timestamp",
                problem: format!(
                    "a timestamp column of type {other} is not integer seconds or a timestamp"
                ),
            }
            .into());
        }
    })
}

/// Whether a column or constant of this type is text (the equality form's column and steps).
pub(crate) fn is_text(t: &DataType) -> bool {
    match t {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => true,
        DataType::Dictionary(_, v) => is_text(v),
        _ => false,
    }
}

/// The text of a constant, through a dictionary constant's value.
pub(crate) fn text_of(v: &ScalarValue) -> Option<&str> {
    match v {
        ScalarValue::Utf8(Some(s))
        | ScalarValue::LargeUtf8(Some(s))
        | ScalarValue::Utf8View(Some(s)) => Some(s),
        ScalarValue::Dictionary(_, inner) => text_of(inner),
        _ => None,
    }
}
