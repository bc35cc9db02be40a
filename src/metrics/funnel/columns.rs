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
    pub(crate) dim: Option<&'a [u32]>,
}

impl<'a> Input<'a> {
    pub(crate) fn from_columns(
        spec: &FunnelSpec,
        cols: &EventColumns<'a>,
    ) -> Result<Self, FunnelError> {
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
        // One lookup table from kind code to step mask, sized by the highest kind a step or
        // exclusion names; every other code maps to 0.
        let max_code = spec
            .steps()
            .iter()
            .map(|s| s.matcher.kind.code())
            .chain(spec.exclusions().iter().map(|x| x.kind.code()))
            .max()
            .unwrap_or(0);
        let table = (0..=max_code)
            .map(|c| spec.mask_of_kind(crate::metrics::event::JourneyEventKind::from_code(c)))
            .collect();
        Ok(Input {
            patient_count: cols.patient_count,
            patient: cols.patient,
            at: cols.at,
            masks: Masks::Table {
                kind: cols.kind,
                table,
            },
            dim,
        })
    }
}
