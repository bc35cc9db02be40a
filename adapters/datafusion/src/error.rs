//! What the SQL functions refuse.

use clinic_ops::metrics::funnel::FunnelError;
use datafusion::common::DataFusionError;

/// Why a call of one of the crate's SQL functions was refused: bad constant arguments, a
/// partial state that no accumulator of this crate produces, or the library's own error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SqlFnError {
    /// An argument that must be a constant (a literal, or an expression of literals).
    #[error("{function}: argument {position} ({name}) must be a constant")]
    NotConstant {
        /// The SQL function.
        function: &'static str,
        /// 1-based position of the argument.
        position: usize,
        /// The argument's name.
        name: &'static str,
    },
    /// A constant argument of the wrong type or out of range.
    #[error("{function}: argument {name} is {value}, expected {expected}")]
    BadArgument {
        /// The SQL function.
        function: &'static str,
        /// The argument's name.
        name: &'static str,
        /// The value given, as SQL shows it.
        value: String,
        /// What the function accepts.
        expected: &'static str,
    },
    /// A value in the rows that the library refuses, such as an amount with more than two
    /// places.
    #[error("{function}: {name} {value} is refused: {problem}")]
    BadValue {
        /// The SQL function.
        function: &'static str,
        /// The argument's name.
        name: &'static str,
        /// The value given.
        value: String,
        /// The library's reason.
        problem: String,
    },
    /// Too few or too many arguments, or an argument of a type the function cannot take.
    #[error("{function}: {problem}")]
    Signature {
        /// The SQL function.
        function: &'static str,
        /// What is wrong.
        problem: String,
    },
    /// A partial state, arriving from another partition or machine, that no accumulator of
    /// this crate produces.
    #[error("{function}: partial state {field} is invalid: {problem}")]
    BadState {
        /// The SQL function.
        function: &'static str,
        /// The state field.
        field: &'static str,
        /// What is wrong with it.
        problem: String,
    },
    /// The library refused the funnel or its state.
    #[error("{function}: {source}")]
    Funnel {
        /// The SQL function.
        function: &'static str,
        /// The library's error.
        source: FunnelError,
    },
}

impl From<SqlFnError> for DataFusionError {
    fn from(e: SqlFnError) -> Self {
        DataFusionError::External(Box::new(e))
    }
}
