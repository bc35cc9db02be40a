//! The clinic-ops journey aggregates as DataFusion SQL functions, with the library's own
//! per-patient code inside, so that a warehouse query gives the numbers the reference
//! calculators give: `window_funnel`, `funnel_state` and `funnel_report`,
//! `retention_cohort` and `retention_report`, `rfm_summary` and `pdc`. See the crate's
//! README for every signature and the Ballista recipe.
//!
//! ```
//! # async fn demo() -> datafusion::common::Result<()> {
//! use datafusion::prelude::SessionContext;
//!
//! let ctx = SessionContext::new();
//! clinic_ops_datafusion::register(&ctx);
//! let df = ctx
//!     .sql(
//!         "SELECT p, window_funnel(60, 'default', t, e = 'lead', e = 'booked') AS level \
//!          FROM (VALUES (1, 0, 'lead'), (1, 30, 'booked'), (2, 0, 'booked')) AS v(p, t, e) \
//!          GROUP BY p ORDER BY p",
//!     )
//!     .await?;
//! df.show().await?;
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod args;
mod error;
mod funnel;
mod pdc;
mod report;
mod retention;
mod rfm;

use datafusion::execution::FunctionRegistry;
use datafusion::logical_expr::AggregateUDF;
use datafusion::prelude::SessionContext;

pub use error::SqlFnError;
pub use funnel::{FunnelOutput, WindowFunnel};
pub use pdc::PdcUdaf;
pub use report::FunnelReportUdaf;
pub use retention::{RetentionCohortUdaf, RetentionReportUdaf};
pub use rfm::RfmSummaryUdaf;

/// The DataFusion version the crate is built and tested against.
pub const DATAFUSION_VERSION: &str = datafusion::DATAFUSION_VERSION;

/// Every aggregate of the crate, ready to register on a session (or, for Ballista, on the
/// scheduler's and executors' session states).
#[must_use]
pub fn functions() -> Vec<AggregateUDF> {
    vec![
        AggregateUDF::from(WindowFunnel::new(FunnelOutput::Level)),
        AggregateUDF::from(WindowFunnel::new(FunnelOutput::State)),
        AggregateUDF::from(FunnelReportUdaf::new()),
        AggregateUDF::from(RetentionCohortUdaf::new()),
        AggregateUDF::from(RetentionReportUdaf::new()),
        AggregateUDF::from(RfmSummaryUdaf::new()),
        AggregateUDF::from(PdcUdaf::new()),
    ]
}

/// Registers [`functions`] on `ctx`.
pub fn register(ctx: &SessionContext) {
    for f in functions() {
        ctx.register_udaf(f);
    }
}

/// Registers [`functions`] on any function registry, such as a `SessionState` being built
/// for a Ballista scheduler or executor.
///
/// # Errors
///
/// The registry's own error when it refuses a function.
pub fn register_on(registry: &mut dyn FunctionRegistry) -> datafusion::common::Result<()> {
    for f in functions() {
        registry.register_udaf(std::sync::Arc::new(f))?;
    }
    Ok(())
}
