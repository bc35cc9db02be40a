//! `window_funnel` and `funnel_report` over random event tables split over 1 to 16
//! partitions equal the core funnel engine, in every ClickHouse mode.

mod support;

use proptest::prelude::*;
use support::*;

fn rows() -> impl Strategy<Value = Vec<Row>> {
    prop::collection::vec((0i64..12, 0usize..EVENTS.len(), -20i64..80), 0..80)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Every patient's level, and the report of all of them, equal the core engine's.
    #[test]
    fn levels_and_reports_equal_the_core_engine(
        rows in rows(),
        assign in prop::collection::vec(0usize..16, 80),
        partitions in 1usize..=16,
        steps in prop::collection::vec(0usize..4, 1..5),
        window in 1u64..50,
    ) {
        let rt = runtime();
        let ctx = session(&rows, &assign, partitions);
        for mode in MODES {
            let spec = spec(&steps, window, mode);
            let want = core_levels(&rows, &spec);
            let sql = format!(
                "SELECT patient, {} FROM events GROUP BY patient",
                call("window_funnel", &steps, window, mode)
            );
            let got = rt.block_on(pairs(&ctx, &sql));
            prop_assert_eq!(&got, &want, "{}", sql);
            // The same funnel in the other two forms: the equality form written out, and
            // conditions that are no equality of a column (so not rewritten into it).
            let names: Vec<String> = steps.iter().map(|&i| format!("'{}'", EVENTS[i].0)).collect();
            let conds: Vec<String> = steps
                .iter()
                .map(|&i| format!("upper(e) = upper('{}')", EVENTS[i].0))
                .collect();
            for args in [
                format!("e, {}", names.join(", ")),
                conds.join(", "),
            ] {
                let sql = format!(
                    "SELECT patient, window_funnel({window}, '{}', t, {args}) FROM events GROUP BY patient",
                    mode.code()
                );
                let got = rt.block_on(pairs(&ctx, &sql));
                prop_assert_eq!(&got, &want, "{}", sql);
            }

            let labels: Vec<&str> = spec.steps().iter().map(|s| s.label.as_str()).collect();
            let sql = format!(
                "SELECT funnel_report(s, '{}') FROM (SELECT patient, {} AS s FROM events GROUP BY patient)",
                labels.join(","),
                call("funnel_state", &steps, window, mode)
            );
            if rows.is_empty() {
                continue;
            }
            // Compared as text: the same report serialises to the same bytes, while a float
            // read back by serde_json may differ in its last bit.
            let got = rt.block_on(one_text(&ctx, &sql));
            let core = spec.compute(&events(&rows)).unwrap_or_else(|e| panic!("{e}"));
            let want = serde_json::to_string(&core.report(&spec, usize::MAX))
                .unwrap_or_else(|e| panic!("{e}"));
            prop_assert_eq!(got, want, "{}", sql);
        }
    }
}

/// SQL timestamps of any unit read as whole seconds, floored, as integer seconds do.
#[test]
fn sql_timestamps_read_as_seconds() {
    let rt = runtime();
    let ctx = datafusion::prelude::SessionContext::new();
    clinic_ops_datafusion::register(&ctx);
    let sql = "SELECT p, window_funnel(10, 'strict_increase', t, e = 'a', e = 'b') FROM (VALUES \
        (1, TIMESTAMP '2026-01-01 00:00:00.100', 'a'), (1, TIMESTAMP '2026-01-01 00:00:00.900', 'b'), \
        (2, TIMESTAMP '2026-01-01 00:00:00', 'a'), (2, TIMESTAMP '2026-01-01 00:00:10', 'b'), \
        (3, TIMESTAMP '2026-01-01 00:00:00', 'a'), (3, TIMESTAMP '2026-01-01 00:00:11', 'b')) AS v(p, t, e) \
        GROUP BY p";
    let got = rt.block_on(pairs(&ctx, sql));
    // Patient 1's steps fall in the same second, which strict_increase does not count.
    assert_eq!(
        got.into_iter().collect::<Vec<_>>(),
        vec![(1, 1), (2, 2), (3, 1)]
    );
}

/// Bad constant arguments are refused with the typed error's message, not a panic.
#[test]
fn bad_arguments_are_refused() {
    let rt = runtime();
    let ctx = datafusion::prelude::SessionContext::new();
    clinic_ops_datafusion::register(&ctx);
    for (args, want) in [
        ("0, 'default', t, e = 'a'", "funnel window is zero"),
        ("10, 'strict', t, e = 'a'", "funnel mode \"strict\""),
        ("10, e, t, e = 'a'", "argument 2 (mode) must be a constant"),
        ("10, 'default', t", "got 3 arguments"),
        (
            "10, 'default', e, e = 'a'",
            "timestamp must be integer Unix seconds or a timestamp",
        ),
        ("10, 'default', t, 1", "cond_1 must be a boolean"),
    ] {
        let sql = format!("SELECT window_funnel({args}) FROM (VALUES (1, 'a')) AS v(t, e)");
        let got = rt.block_on(async {
            match ctx.sql(&sql).await {
                Err(e) => e.to_string(),
                Ok(df) => match df.collect().await {
                    Err(e) => e.to_string(),
                    Ok(_) => "ok".to_owned(),
                },
            }
        });
        assert!(got.contains(want), "{sql}: {got}");
    }
}

/// Conditions that all compare one column with text are planned in the equality form (the
/// steps as dictionary constants, one pass over the column); others stay conditions.
#[test]
fn equalities_of_one_column_are_planned_as_one_pass() {
    let rt = runtime();
    let ctx = session(&[(1, 0, 5)], &[0], 1);
    let plan = |conds: &str| {
        let sql = format!(
            "EXPLAIN SELECT patient, window_funnel(10, 'default', t, {conds}) FROM events GROUP BY patient"
        );
        rt.block_on(async {
            let batches = ctx
                .sql(&sql)
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .collect()
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            datafusion::arrow::util::pretty::pretty_format_batches(&batches)
                .unwrap_or_else(|e| panic!("{e}"))
                .to_string()
        })
    };
    let rewritten = plan("e = 'lead', 'booked' = e");
    assert!(
        rewritten.contains(
            r#"events.e, Dictionary(Int8, Utf8("lead")), Dictionary(Int8, Utf8("booked"))"#
        ),
        "{rewritten}"
    );
    for kept in ["e = 'lead', upper(e) = 'BOOKED'", "e = 'lead', t = 5"] {
        let plan = plan(kept);
        assert!(!plan.contains("Dictionary(Int8"), "{kept}: {plan}");
    }
}
