//! `window_funnel`'s all-groups accumulator (DataFusion's `GroupsAccumulator`) gives the
//! levels of the per-group `Accumulator` and of the core funnel engine, for random event
//! tables split over 1 to 16 partitions, with the partial stage aggregating or (as
//! DataFusion does at high cardinality) skipped and every row turned into a state.

mod support;

use std::sync::Arc;

use clinic_ops_datafusion::{FunnelOutput, WindowFunnel};
use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::catalog::MemTable;
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{Accumulator, AggregateUDF, AggregateUDFImpl, Signature};
use datafusion::prelude::{SessionConfig, SessionContext};
use proptest::prelude::*;
use support::*;

/// `window_funnel` with only its per-group accumulator, as `window_funnel_rows`: DataFusion
/// then wraps it in its per-group adapter.
#[derive(Debug, PartialEq, Eq, Hash)]
struct RowByRow(WindowFunnel);

impl AggregateUDFImpl for RowByRow {
    fn name(&self) -> &str {
        "window_funnel_rows"
    }
    fn signature(&self) -> &Signature {
        self.0.signature()
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.0.coerce_types(arg_types)
    }
    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.0.return_type(arg_types)
    }
    fn is_nullable(&self) -> bool {
        self.0.is_nullable()
    }
    fn default_value(&self, data_type: &DataType) -> Result<ScalarValue> {
        self.0.default_value(data_type)
    }
    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        self.0.accumulator(args)
    }
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        self.0.state_fields(args)
    }
    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        false
    }
}

/// A session over `partitions` partitions with both functions; with `skip_partial`, the
/// partial stage gives up aggregating from the first row (`convert_to_state`).
fn session_with(
    rows: &[Row],
    assign: &[usize],
    partitions: usize,
    skip_partial: bool,
) -> SessionContext {
    let mut config = SessionConfig::new().with_target_partitions(partitions.max(2));
    if skip_partial {
        let exec = &mut config.options_mut().execution;
        exec.skip_partial_aggregation_probe_rows_threshold = 1;
        exec.skip_partial_aggregation_probe_ratio_threshold = 0.0;
    }
    let ctx = SessionContext::new_with_config(config);
    clinic_ops_datafusion::register(&ctx);
    ctx.register_udaf(AggregateUDF::from(RowByRow(WindowFunnel::new(
        FunnelOutput::Level,
    ))));
    let (schema, parts) = batches(rows, assign, partitions);
    let table = MemTable::try_new(schema, parts).unwrap_or_else(|e| panic!("{e}"));
    ctx.register_table("events", Arc::new(table))
        .unwrap_or_else(|e| panic!("{e}"));
    ctx
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Every patient's level is the same by both accumulators and the core engine.
    #[test]
    fn groups_accumulator_equals_accumulator_and_core(
        rows in prop::collection::vec((0i64..12, 0usize..EVENTS.len(), -20i64..80), 0..80),
        assign in prop::collection::vec(0usize..16, 80),
        partitions in 1usize..=16,
        steps in prop::collection::vec(0usize..4, 1..5),
        window in 1u64..50,
        skip_partial in any::<bool>(),
    ) {
        let rt = runtime();
        let ctx = session_with(&rows, &assign, partitions, skip_partial);
        for mode in MODES {
            let want = core_levels(&rows, &spec(&steps, window, mode));
            let groups = format!(
                "SELECT patient, {} FROM events GROUP BY patient",
                call("window_funnel", &steps, window, mode)
            );
            let per_group = format!(
                "SELECT patient, {} FROM events GROUP BY patient",
                call("window_funnel_rows", &steps, window, mode)
            );
            let got = rt.block_on(pairs(&ctx, &groups));
            prop_assert_eq!(&got, &want, "{}", groups);
            let got = rt.block_on(pairs(&ctx, &per_group));
            prop_assert_eq!(&got, &want, "{}", per_group);
        }
    }
}

/// A `FILTER (WHERE ..)` drops rows before they become events, on both paths.
#[test]
fn filtered_rows_are_no_events() {
    let rows: Vec<Row> = vec![(1, 0, 0), (1, 1, 5), (2, 0, 0), (2, 1, 5)];
    let rt = runtime();
    for skip_partial in [false, true] {
        let ctx = session_with(&rows, &[0, 1, 0, 1], 2, skip_partial);
        for f in ["window_funnel", "window_funnel_rows"] {
            let sql = format!(
                "SELECT patient, {f}(10, 'default', t, e = 'lead', e = 'booked') \
                 FILTER (WHERE patient = 1 OR e <> 'booked') FROM events GROUP BY patient"
            );
            let got: Vec<(i64, u64)> = rt.block_on(pairs(&ctx, &sql)).into_iter().collect();
            assert_eq!(got, vec![(1, 2), (2, 1)], "{sql}");
        }
    }
}
