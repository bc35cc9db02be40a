//! The columnar input of the fast path.

use super::FunnelError;
use super::spec::FunnelSpec;

/// Journey events as columns, the layout a warehouse or a data frame already has: row `i`
/// is patient `patient[i]` doing kind `kind[i]` at `at[i]`.
///
/// Patients are dense numbers `0..patient_count`, as a dictionary-encoded column gives
/// them. Every number in that range is a patient of the set, with level 0 when none of its
/// rows match a step.
#[derive(Debug, Clone, Copy)]
pub struct EventColumns<'a> {
    /// How many patients the set has.
    pub patient_count: u32,
    /// The patient of each row, `< patient_count`.
    pub patient: &'a [u32],
    /// The [`JourneyEventKind`](crate::metrics::event::JourneyEventKind) code of each row.
    pub kind: &'a [u32],
    /// Unix seconds of each row.
    pub at: &'a [i64],
    /// The breakdown dimension of each row as a host code (only read with a breakdown).
    pub dimension: Option<&'a [u32]>,
}

impl<'a> EventColumns<'a> {
    /// Columns without a breakdown dimension; add one with
    /// [`with_dimension`](Self::with_dimension). The lengths are checked when the columns
    /// are run, not here.
    ///
    /// ```
    /// use clinic_ops::metrics::funnel::EventColumns;
    ///
    /// let (patient, kind, at) = ([0, 0, 1], [1, 4, 1], [10, 20, 15]);
    /// let cols = EventColumns::new(2, &patient, &kind, &at).with_dimension(&[7, 7, 8]);
    /// assert_eq!(cols.patient_count, 2);
    /// ```
    #[must_use]
    pub const fn new(
        patient_count: u32,
        patient: &'a [u32],
        kind: &'a [u32],
        at: &'a [i64],
    ) -> Self {
        EventColumns {
            patient_count,
            patient,
            kind,
            at,
            dimension: None,
        }
    }

    /// The same columns with a breakdown dimension, one host code a row.
    #[must_use]
    pub const fn with_dimension(mut self, dimension: &'a [u32]) -> Self {
        self.dimension = Some(dimension);
        self
    }
}

/// How rows map to steps.
pub(crate) enum Masks<'a> {
    Table { kind: &'a [u32], table: Vec<u64> },
    Rows(&'a [u64]),
}

/// The engine's input.
pub(crate) struct Input<'a> {
    pub(crate) patient_count: u32,
    pub(crate) patient: &'a [u32],
    pub(crate) at: &'a [i64],
    pub(crate) masks: Masks<'a>,
    /// The breakdown value of each row, packed into its records.
    pub(crate) dim: Option<&'a [u32]>,
    /// Or the breakdown value of each patient, `patient_count` of them, read once per
    /// patient in the reduce: the same as every row of the patient carrying it.
    pub(crate) by_patient: Option<&'a [u32]>,
}

impl<'a> Input<'a> {
    pub(crate) fn from_columns(
        spec: &FunnelSpec,
        cols: &EventColumns<'a>,
    ) -> Result<Self, FunnelError> {
        check_rows(spec, cols)?;
        let n = cols.patient.len();
        let dim = match spec.breakdown() {
            None => None,
            Some(_) => match cols.dimension {
                Some(d) if d.len() == n => Some(d),
                Some(d) => {
                    return Err(FunnelError::ColumnLengths {
                        patient: n,
                        kind: d.len(),
                        at: n,
                    });
                }
                None => return Err(FunnelError::MissingDimension),
            },
        };
        Ok(Input::of(spec, cols, dim, None))
    }

    /// [`from_columns`](Input::from_columns) for a breakdown whose value is given per
    /// patient, `by_patient[p]` for patient `p`; `cols.dimension` is not read.
    pub(crate) fn from_columns_by_patient(
        spec: &FunnelSpec,
        cols: &EventColumns<'a>,
        by_patient: &'a [u32],
    ) -> Result<Self, FunnelError> {
        check_rows(spec, cols)?;
        if spec.breakdown().is_none() || by_patient.len() != cols.patient_count as usize {
            return Err(FunnelError::MissingDimension);
        }
        Ok(Input::of(spec, cols, None, Some(by_patient)))
    }

    fn of(
        spec: &FunnelSpec,
        cols: &EventColumns<'a>,
        dim: Option<&'a [u32]>,
        by_patient: Option<&'a [u32]>,
    ) -> Self {
        Input {
            patient_count: cols.patient_count,
            patient: cols.patient,
            at: cols.at,
            masks: Masks::Table {
                kind: cols.kind,
                table: mask_table(spec),
            },
            dim,
            by_patient,
        }
    }
}

/// The checks of the rows themselves: the lengths of their columns, and steps that match
/// on kind alone.
fn check_rows(spec: &FunnelSpec, cols: &EventColumns<'_>) -> Result<(), FunnelError> {
    let n = cols.patient.len();
    if cols.kind.len() != n || cols.at.len() != n {
        return Err(FunnelError::ColumnLengths {
            patient: n,
            kind: cols.kind.len(),
            at: cols.at.len(),
        });
    }
    if !spec.kind_only() {
        return Err(FunnelError::NeedsEvents);
    }
    Ok(())
}

/// One lookup table from kind code to step mask, sized by the highest kind a step or
/// exclusion names; every other code maps to 0.
fn mask_table(spec: &FunnelSpec) -> Vec<u64> {
    let max_code = spec
        .steps()
        .iter()
        .map(|s| s.matcher.kind.code())
        .chain(spec.exclusions().iter().map(|x| x.kind.code()))
        .max()
        .unwrap_or(0);
    (0..=max_code)
        .map(|c| spec.mask_of_kind(crate::metrics::event::JourneyEventKind::from_code(c)))
        .collect()
}
