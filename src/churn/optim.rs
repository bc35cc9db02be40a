//! A small deterministic BFGS minimiser for the 3- and 4-parameter fits.
//!
//! Why not `argmin`: the fits minimise one smooth function whose exact gradient is cheap
//! (computed in the same pass over the data as the value), in log-parameter space where the
//! problem is unconstrained, so a textbook BFGS with a backtracking (Armijo) line search is
//! all they need; owning those ~100 lines keeps the arithmetic, and so the bits, fixed by
//! this crate alone, and keeps the core's build free of argmin's dependency tree.

use super::ChurnError;

/// The stopping rule: the largest gradient component of the mean negative log-likelihood
/// with respect to the log parameters is at most this; or it is at most
/// [`FLOOR_GRADIENT_TOLERANCE`] and the function no longer changes beyond rounding (an
/// accepted step moved it by at most [`FLOOR_RELATIVE_CHANGE`] relative, or no step of the
/// line search decreases it at all): the maximum is then found to the precision the data allow.
pub const GRADIENT_TOLERANCE: f64 = 1e-9;
/// See [`GRADIENT_TOLERANCE`].
pub const FLOOR_GRADIENT_TOLERANCE: f64 = 1e-6;
/// See [`GRADIENT_TOLERANCE`].
pub const FLOOR_RELATIVE_CHANGE: f64 = 1e-15;
/// The iteration limit of a fit: past it the fit is [`ChurnError::NotConverged`].
pub const MAX_ITERATIONS: u32 = 1_000;
/// A log parameter beyond ±this (a parameter above e^40 ≈ 2·10^17 or below its inverse)
/// means the likelihood has no interior maximum in that direction.
const LOG_PARAM_LIMIT: f64 = 40.0;
/// The longest step the line search starts from, in log-parameter units.
const MAX_STEP: f64 = 2.0;
const ARMIJO: f64 = 1e-4;
const HALVINGS: u32 = 60;

/// Where a minimisation ended.
pub(crate) struct Minimum<const N: usize> {
    pub(crate) x: [f64; N],
    pub(crate) iterations: u32,
}

fn dot<const N: usize>(a: &[f64; N], b: &[f64; N]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn norm_inf<const N: usize>(a: &[f64; N]) -> f64 {
    a.iter().fold(0.0f64, |m, v| m.max(v.abs()))
}

/// Minimises `f` (value and gradient) from `x0`. `f` returns a non-finite value outside its
/// domain; the line search then steps back.
pub(crate) fn bfgs<const N: usize>(
    model: &'static str,
    x0: [f64; N],
    mut f: impl FnMut(&[f64; N]) -> (f64, [f64; N]),
) -> Result<Minimum<N>, ChurnError> {
    let mut x = x0;
    let (mut fx, mut g) = f(&x);
    let not_converged = |iterations, g: &[f64; N], reason| ChurnError::NotConverged {
        model,
        iterations,
        gradient: norm_inf(g),
        reason,
    };
    if !fx.is_finite() || g.iter().any(|v| !v.is_finite()) {
        return Err(not_converged(0, &g, "start point has no finite likelihood"));
    }
    // The inverse Hessian estimate, starting at the identity.
    let mut h = [[0.0f64; N]; N];
    for (i, row) in h.iter_mut().enumerate() {
        row[i] = 1.0;
    }
    for iteration in 0..MAX_ITERATIONS {
        if norm_inf(&g) <= GRADIENT_TOLERANCE {
            return Ok(Minimum {
                x,
                iterations: iteration,
            });
        }
        let mut p = [0.0f64; N];
        for (pi, row) in p.iter_mut().zip(&h) {
            *pi = -dot(row, &g);
        }
        let mut slope = dot(&p, &g);
        if slope >= 0.0 || !slope.is_finite() {
            // Not a descent direction: restart from steepest descent.
            for (i, row) in h.iter_mut().enumerate() {
                *row = [0.0; N];
                row[i] = 1.0;
            }
            for (pi, gi) in p.iter_mut().zip(&g) {
                *pi = -gi;
            }
            slope = dot(&p, &g);
        }
        let longest = norm_inf(&p);
        let mut step = if longest > MAX_STEP {
            MAX_STEP / longest
        } else {
            1.0
        };
        let mut accepted = None;
        for _ in 0..HALVINGS {
            let mut xn = x;
            for (xi, pi) in xn.iter_mut().zip(&p) {
                *xi += step * pi;
            }
            let (fn_, gn) = f(&xn);
            if fn_.is_finite()
                && gn.iter().all(|v| v.is_finite())
                && fn_ <= fx + ARMIJO * step * slope
            {
                accepted = Some((xn, fn_, gn));
                break;
            }
            step *= 0.5;
        }
        let Some((xn, fn_, gn)) = accepted else {
            // No step decreases the function: at a minimum to machine precision when the
            // gradient is already tiny, else stuck.
            if norm_inf(&g) <= FLOOR_GRADIENT_TOLERANCE {
                return Ok(Minimum {
                    x,
                    iterations: iteration,
                });
            }
            return Err(not_converged(iteration, &g, "no step improves"));
        };
        if xn.iter().any(|v| v.abs() > LOG_PARAM_LIMIT) {
            return Err(not_converged(iteration + 1, &gn, "parameter diverges"));
        }
        if (fx - fn_).abs() <= FLOOR_RELATIVE_CHANGE * fx.abs().max(1.0)
            && norm_inf(&gn) <= FLOOR_GRADIENT_TOLERANCE
        {
            return Ok(Minimum {
                x: xn,
                iterations: iteration + 1,
            });
        }
        let mut s = [0.0f64; N];
        let mut y = [0.0f64; N];
        for i in 0..N {
            s[i] = xn[i] - x[i];
            y[i] = gn[i] - g[i];
        }
        let sy = dot(&s, &y);
        if sy > 1e-300 {
            // H ← (I − ρ s yᵀ) H (I − ρ y sᵀ) + ρ s sᵀ
            let rho = 1.0 / sy;
            let mut hy = [0.0f64; N];
            for (hyi, row) in hy.iter_mut().zip(&h) {
                *hyi = dot(row, &y);
            }
            let yhy = dot(&y, &hy);
            for i in 0..N {
                for j in 0..N {
                    h[i][j] +=
                        (1.0 + rho * yhy) * rho * s[i] * s[j] - rho * (hy[i] * s[j] + s[i] * hy[j]);
                }
            }
        }
        x = xn;
        fx = fn_;
        g = gn;
    }
    Err(not_converged(MAX_ITERATIONS, &g, "iteration limit"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_minimum_of_a_quadratic_bowl() {
        let m = bfgs("test", [3.0, -2.0], |x| {
            let f = (x[0] - 1.0).powi(2) + 10.0 * (x[1] + 0.5).powi(2);
            (f, [2.0 * (x[0] - 1.0), 20.0 * (x[1] + 0.5)])
        })
        .map_err(|e| e.to_string());
        let m = m.as_ref().map(|m| m.x);
        assert!(matches!(m, Ok(x) if (x[0] - 1.0).abs() < 1e-9 && (x[1] + 0.5).abs() < 1e-9));
    }

    #[test]
    fn an_unbounded_direction_is_a_typed_error() {
        // -x has no minimum: x runs off to infinity.
        let r = bfgs("test", [0.0], |x| (-x[0], [-1.0]));
        assert!(
            matches!(r, Err(ChurnError::NotConverged { .. })),
            "{:?}",
            r.err()
        );
    }
}
