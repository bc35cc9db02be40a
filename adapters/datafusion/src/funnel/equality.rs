//! The equality form of `window_funnel` and `funnel_state`: `(window, mode, timestamp,
//! column, 'step_1', .., 'step_N')`, where row events are the steps whose value the column
//! holds.
//!
//! ClickHouse users write the steps as conditions, `event = 'lead', event = 'booked', ..`.
//! DataFusion evaluates each condition over every batch into a boolean array, one string
//! comparison kernel per step: 13 % of a 9.8M-row funnel's time at eight steps. When every
//! condition compares one column with a text constant, [`equality_form`] (the aggregate's
//! `simplify` hook) rewrites the call to the equality form, and [`step_masks`] finds each
//! row's steps in one pass over the column, comparing the 16-byte views of a `Utf8View`
//! column with those of the steps. The steps travel as dictionary constants, which
//! DataFusion broadcasts to a batch as one key a row rather than one copy of the text.
//! Levels and states are those of the conditions: a NULL value matches no step, as a NULL
//! comparison is no true condition.

use datafusion::arrow::array::builder::make_view;
use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::expr::AggregateFunction;
use datafusion::logical_expr::{BinaryExpr, Expr, Operator};

use crate::args::{is_text, text_of};
use crate::error::SqlFnError;

/// The call in its equality form when every condition compares the same column with a text
/// constant (either side), the call unchanged otherwise.
pub(crate) fn equality_form(agg: AggregateFunction) -> AggregateFunction {
    let Some(conds) = agg.params.args.get(3..).filter(|c| !c.is_empty()) else {
        return agg;
    };
    let mut column: Option<&Expr> = None;
    let mut steps = Vec::with_capacity(conds.len());
    for cond in conds {
        let Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::Eq,
            right,
        }) = cond
        else {
            return agg;
        };
        let (col, value) = match (left.as_ref(), right.as_ref()) {
            (col @ Expr::Column(_), Expr::Literal(v, _))
            | (Expr::Literal(v, _), col @ Expr::Column(_)) => (col, v),
            _ => return agg,
        };
        let Some(text) = text_of(value) else {
            return agg;
        };
        if column.is_some_and(|c| c != col) {
            return agg;
        }
        column = Some(col);
        steps.push(text.to_owned());
    }
    let Some(column) = column.cloned() else {
        return agg;
    };
    let mut agg = agg;
    agg.params.args.truncate(3);
    agg.params.args.push(column);
    agg.params.args.extend(steps.into_iter().map(|s| {
        Expr::Literal(
            ScalarValue::Dictionary(
                Box::new(DataType::Int8),
                Box::new(ScalarValue::Utf8(Some(s))),
            ),
            None,
        )
    }));
    agg
}

/// Each row's step mask: bit `k` where the column holds `steps[k]`; 0 for a NULL.
///
/// # Errors
///
/// The column is not text.
pub(crate) fn step_masks(
    function: &'static str,
    column: &ArrayRef,
    steps: &[Box<[u8]>],
) -> Result<Vec<u64>> {
    let view = match column.data_type() {
        DataType::Utf8View => column.clone(),
        t if is_text(t) => cast(column, &DataType::Utf8View)?,
        t => {
            return Err(SqlFnError::Signature {
                function,
                problem: format!("the steps' column must be text, got {t}"),
            }
            .into());
        }
    };
    let view = view.as_string_view();
    // A value of at most 12 bytes is held in its view, zero-padded: two such values are
    // equal exactly when their views are. A step of more than 12 bytes never equals such
    // a value, and longer values are compared by their bytes.
    let inline: Vec<(u128, u64)> = steps
        .iter()
        .enumerate()
        .filter(|(_, s)| s.len() <= 12)
        .map(|(k, s)| (make_view(s, 0, 0), 1u64 << k))
        .collect();
    let long: Vec<(&[u8], u64)> = steps
        .iter()
        .enumerate()
        .filter(|(_, s)| s.len() > 12)
        .map(|(k, s)| (&s[..], 1u64 << k))
        .collect();
    let mut masks: Vec<u64> = view
        .views()
        .iter()
        .enumerate()
        .map(|(row, &v)| {
            if (v as u32) <= 12 {
                inline
                    .iter()
                    .filter(|&&(s, _)| s == v)
                    .fold(0, |m, &(_, bit)| m | bit)
            } else if long.is_empty() {
                0
            } else {
                let value = view.value(row).as_bytes();
                long.iter()
                    .filter(|&&(s, _)| s == value)
                    .fold(0, |m, &(_, bit)| m | bit)
            }
        })
        .collect();
    if let Some(nulls) = view.nulls() {
        for row in nulls
            .iter()
            .enumerate()
            .filter(|(_, valid)| !valid)
            .map(|(r, _)| r)
        {
            if let Some(m) = masks.get_mut(row) {
                *m = 0;
            }
        }
    }
    Ok(masks)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{
        DictionaryArray, LargeStringArray, StringArray, StringViewArray,
    };
    use datafusion::arrow::datatypes::Int32Type;
    use datafusion::logical_expr::{col, lit};

    use super::*;

    fn steps(s: &[&str]) -> Vec<Box<[u8]>> {
        s.iter().map(|s| Box::from(s.as_bytes())).collect()
    }

    #[test]
    fn masks_of_every_text_type_with_short_long_and_null_values() {
        let values = [
            Some("lead"),
            None,
            Some("a step longer than twelve"),
            Some("booked"),
            Some("lead"),
            Some("a step longer than twelvE"),
            Some(""),
        ];
        let steps = steps(&["lead", "booked", "a step longer than twelve", "lead", ""]);
        let want = vec![0b1001, 0, 0b100, 0b10, 0b1001, 0, 0b10000];
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringViewArray::from_iter(values)),
            Arc::new(StringArray::from_iter(values)),
            Arc::new(LargeStringArray::from_iter(values)),
            Arc::new(values.into_iter().collect::<DictionaryArray<Int32Type>>()),
        ];
        for c in &columns {
            assert_eq!(
                step_masks("window_funnel", c, &steps).unwrap(),
                want,
                "{}",
                c.data_type()
            );
        }
        let numbers: ArrayRef = Arc::new(datafusion::arrow::array::Int64Array::from(vec![1]));
        assert!(step_masks("window_funnel", &numbers, &steps).is_err());
    }

    fn call(args: Vec<Expr>) -> AggregateFunction {
        let udaf = Arc::new(datafusion::logical_expr::AggregateUDF::from(
            super::super::WindowFunnel::new(super::super::FunnelOutput::Level),
        ));
        AggregateFunction::new_udf(udaf, args, false, None, vec![], None)
    }

    #[test]
    fn only_equalities_of_one_column_with_text_are_rewritten() {
        let head = || vec![lit(10i64), lit("default"), col("t")];
        let with = |conds: Vec<Expr>| call(head().into_iter().chain(conds).collect());
        let rewritten = equality_form(with(vec![col("e").eq(lit("a")), lit("b").eq(col("e"))]));
        let args = &rewritten.params.args;
        assert_eq!(args.len(), 6);
        assert_eq!(args[3], col("e"));
        let texts: Vec<_> = args[4..]
            .iter()
            .map(|a| match a {
                Expr::Literal(v, _) => text_of(v).map(str::to_owned),
                _ => None,
            })
            .collect();
        assert_eq!(texts, vec![Some("a".to_owned()), Some("b".to_owned())]);
        for kept in [
            vec![col("e").eq(lit("a")), col("f").eq(lit("b"))],
            vec![col("e").eq(lit("a")), col("e").gt(lit("b"))],
            vec![col("e").eq(lit(1i64))],
            vec![col("e").eq(lit("a")).and(col("e").eq(lit("a")))],
        ] {
            let same = with(kept.clone());
            assert_eq!(equality_form(same.clone()), same, "{kept:?}");
        }
    }
}
