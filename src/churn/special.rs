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
    let fail = || ChurnError::Hypergeometric { a, b, c, z };
    if !(0.0..1.0).contains(&z) || !a.is_finite() || !b.is_finite() || !c.is_finite() {
        return Err(fail());
    }
    let mut sum = 1.0f64;
    let mut term = 1.0f64;
    let mut n = 0.0f64;
    for _ in 0..HYP2F1_MAX_TERMS {
        let den = (c + n) * (n + 1.0);
        if den == 0.0 {
            return Err(fail());
        }
        let ratio = (a + n) * (b + n) / den * z;
        term *= ratio;
        let next = sum + term;
        // Stop once the terms shrink (the ratio is below 1 from here on, since it tends
        // to z from either side monotonically past its turning point) and no longer move
        // the sum.
        if next == sum && ratio.abs() < 1.0 {
            return Ok(sum);
        }
        if !next.is_finite() {
            return Err(fail());
        }
        sum = next;
        n += 1.0;
    }
    Err(fail())
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
