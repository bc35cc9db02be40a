//! Special functions on `libm`, so that every platform computes the same bits.

use special::Gamma;

use super::ChurnError;

/// ln Γ(x) for x > 0.
pub(crate) fn ln_gamma(x: f64) -> f64 {
    Gamma::ln_gamma(x).0
}

/// ψ(x) for x > 0.
pub(crate) fn digamma(x: f64) -> f64 {
    Gamma::digamma(x)
}

/// ln B(a, b).
pub(crate) fn ln_beta(a: f64, b: f64) -> f64 {
    ln_gamma(a) + ln_gamma(b) - ln_gamma(a + b)
}

pub(crate) fn ln(x: f64) -> f64 {
    libm::log(x)
}

pub(crate) fn exp(x: f64) -> f64 {
    libm::exp(x)
}

pub(crate) fn ln_1p(x: f64) -> f64 {
    libm::log1p(x)
}

pub(crate) fn pow(x: f64, y: f64) -> f64 {
    libm::pow(x, y)
}

/// The most terms [`hyp2f1`] sums before it gives up.
pub const HYP2F1_MAX_TERMS: u32 = 200_000;

/// The Gaussian hypergeometric function ₂F₁(a, b; c; z) for 0 ≤ z < 1 by its power series
/// (Abramowitz & Stegun 15.1.1), summed until a term no longer changes the sum in the last
/// place. lifetimes calls scipy's `hyp2f1` with exactly these arguments; every argument the
/// BG/NBD model passes has z = t / (α + T + t) < 1, where the series converges.
///
/// No well-kept Rust crate offers ₂F₁ (statrs and special do not); the series is a dozen
/// lines, and summing it in a fixed order keeps the answer bit-for-bit deterministic.
///
/// # Errors
///
/// [`ChurnError::Hypergeometric`] when z is outside `[0, 1)`, c is a pole (0, −1, −2, …), or
/// the series has not converged after [`HYP2F1_MAX_TERMS`] terms (z very close to 1).
pub fn hyp2f1(a: f64, b: f64, c: f64, z: f64) -> Result<f64, ChurnError> {
    let mut out = [0.0];
    Hyp2f1Series::new(a, b, c).sum_at(&[z], &mut out)?;
    Ok(out[0])
}

/// The series of ₂F₁(a, b; c; ·) for one (a, b, c), summed at many z at once.
///
/// Term n+1 is term n times `q_n · z` with `q_n = (a+n)(b+n) / ((c+n)(n+1))`, which does not
/// depend on z: the `q_n` are computed once (lazily, as far as the slowest z needs) and
/// shared by every z and every later call, and the sums at the different z advance side by
/// side, so the processor overlaps them. Each z's sum runs through exactly the operations
/// [`hyp2f1`] runs, in the same order: the same bits.
pub(crate) struct Hyp2f1Series {
    a: f64,
    b: f64,
    c: f64,
    q: Vec<f64>,
    /// The first n with (c+n)(n+1) = 0: the series has a pole there.
    pole: Option<usize>,
}

impl Hyp2f1Series {
    pub(crate) fn new(a: f64, b: f64, c: f64) -> Hyp2f1Series {
        Hyp2f1Series {
            a,
            b,
            c,
            q: Vec::new(),
            pole: None,
        }
    }

    /// `q_n`, or `None` at the pole.
    fn coefficient(&mut self, n: usize) -> Option<f64> {
        while self.q.len() <= n {
            if self.pole.is_some() {
                return None;
            }
            #[allow(clippy::cast_precision_loss)] // n < HYP2F1_MAX_TERMS, exact
            let nf = self.q.len() as f64;
            let den = (self.c + nf) * (nf + 1.0);
            if den == 0.0 {
                self.pole = Some(self.q.len());
                return None;
            }
            self.q.push((self.a + nf) * (self.b + nf) / den);
        }
        self.q.get(n).copied()
    }

    /// ₂F₁(a, b; c; zs[k]) into `out[k]` for every k (`out` as long as `zs`).
    ///
    /// # Errors
    ///
    /// As [`hyp2f1`], for the first z (in index order among those still summing) that fails.
    pub(crate) fn sum_at(&mut self, zs: &[f64], out: &mut [f64]) -> Result<(), ChurnError> {
        let (a, b, c) = (self.a, self.b, self.c);
        let fail = |z: f64| ChurnError::Hypergeometric { a, b, c, z };
        if !a.is_finite() || !b.is_finite() || !c.is_finite() {
            return Err(fail(zs.first().copied().unwrap_or(0.0)));
        }
        if let Some(&z) = zs.iter().find(|z| !(0.0..1.0).contains(*z)) {
            return Err(fail(z));
        }
        // (z, term, sum, output index) of the sums still running.
        let mut running: Vec<(f64, f64, f64, usize)> = zs
            .iter()
            .enumerate()
            .map(|(k, &z)| (z, 1.0, 1.0, k))
            .collect();
        let mut n = 0usize;
        while !running.is_empty() {
            if n >= HYP2F1_MAX_TERMS as usize {
                return Err(fail(running.first().map_or(0.0, |r| r.0)));
            }
            let Some(q) = self.coefficient(n) else {
                return Err(fail(running.first().map_or(0.0, |r| r.0)));
            };
            let mut k = 0;
            while let Some(state) = running.get_mut(k) {
                let (z, term, sum, slot) = *state;
                let ratio = q * z;
                let term = term * ratio;
                let next = sum + term;
                // Stop once the terms shrink (the ratio is below 1 from here on, since it
                // tends to z from either side monotonically past its turning point) and no
                // longer move the sum.
                if next == sum && ratio.abs() < 1.0 {
                    if let Some(o) = out.get_mut(slot) {
                        *o = sum;
                    }
                    running.swap_remove(k);
                    continue;
                }
                if !next.is_finite() {
                    return Err(fail(z));
                }
                *state = (z, term, next, slot);
                k += 1;
            }
            n += 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hyp2f1_closed_forms() {
        // 2F1(1, 1; 2; z) = -ln(1 - z) / z
        for z in [0.0, 0.1, 0.5, 0.9, 0.99] {
            let want = if z == 0.0 {
                1.0
            } else {
                -(1.0f64 - z).ln() / z
            };
            let got = hyp2f1(1.0, 1.0, 2.0, z).unwrap_or(f64::NAN);
            assert!((got - want).abs() <= 1e-12 * want, "z={z}: {got} vs {want}");
        }
        // 2F1(a, b; b; z) = (1 - z)^-a
        let got = hyp2f1(0.7, 3.2, 3.2, 0.6).unwrap_or(f64::NAN);
        assert!((got - 0.4f64.powf(-0.7)).abs() < 1e-12);
    }

    #[test]
    fn hyp2f1_refuses_what_it_cannot_sum() {
        assert!(hyp2f1(1.0, 1.0, 2.0, 1.0).is_err());
        assert!(hyp2f1(1.0, 1.0, 2.0, -0.1).is_err());
        assert!(hyp2f1(1.0, 1.0, -2.0, 0.5).is_err());
        assert!(hyp2f1(1.0, 1.0, 2.0, f64::NAN).is_err());
    }

    #[test]
    fn gamma_functions_match_known_values() {
        assert!((ln_gamma(5.0) - 24.0f64.ln()).abs() < 1e-14);
        assert!((digamma(1.0) + 0.577_215_664_901_532_9).abs() < 1e-13);
        assert!((ln_beta(2.0, 3.0) - (1.0f64 / 12.0).ln()).abs() < 1e-14);
    }
}
