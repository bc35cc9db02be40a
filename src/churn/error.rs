//! The one error type of the churn models.

/// Why a churn model could not be fitted, built or evaluated.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ChurnError {
    /// A summary or parameter field is not a finite number in its range.
    #[error("{field} is {value}, expected {expected}")]
    OutOfRange {
        /// The field (`recency`, `alpha`, `observations[3].T`, …).
        field: String,
        /// The value given.
        value: f64,
        /// What the field accepts.
        expected: &'static str,
    },
    /// The summaries cannot identify the model's parameters.
    #[error("cannot fit {model}: {reason}")]
    Unfittable {
        /// `bg/nbd` or `gamma-gamma`.
        model: &'static str,
        /// Why (`no repeat patients`, `every summary is identical`, …).
        reason: &'static str,
    },
    /// The optimiser stopped without meeting its stopping rule.
    #[error(
        "{model} fit did not converge after {iterations} iterations \
         (gradient {gradient:e}, {reason})"
    )]
    NotConverged {
        /// `bg/nbd` or `gamma-gamma`.
        model: &'static str,
        /// Iterations run.
        iterations: u32,
        /// The largest gradient component left (mean log-likelihood, log parameters).
        gradient: f64,
        /// What stopped it (`iteration limit`, `no step improves`, `parameter diverges`).
        reason: &'static str,
    },
    /// One patient of a batch could not be scored.
    #[error("patient {index}: {source}")]
    Patient {
        /// The patient's position in the batch, from 0.
        index: usize,
        /// Why.
        source: Box<ChurnError>,
    },
    /// The Gaussian hypergeometric series did not converge within its term limit.
    #[error("hypergeometric series 2F1({a}, {b}; {c}; {z}) did not converge")]
    Hypergeometric {
        /// First numerator parameter.
        a: f64,
        /// Second numerator parameter.
        b: f64,
        /// Denominator parameter.
        c: f64,
        /// Argument.
        z: f64,
    },
}
