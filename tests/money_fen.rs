//! The one yuan ↔ fen conversion: exact round trips within the limit, saturation beyond it,
//! and order kept both ways.

use proptest::prelude::*;
use rust_decimal::Decimal;

use clinic_ops::money::{MAX_FEN, SignedYuan, Yuan};

/// Fen counts with the edges weighted: zero, the `u32` boundary of the fast path, the limit.
fn fen() -> impl Strategy<Value = u64> {
    let edge = u64::from(u32::MAX);
    prop_oneof![
        4 => 0..=MAX_FEN,
        1 => (edge - 2)..=(edge + 2),
        1 => (MAX_FEN - 2)..=MAX_FEN,
        1 => 0u64..1_000,
    ]
}

/// An amount built the way hosts build them: from a decimal, at any scale up to 2.
fn yuan() -> impl Strategy<Value = Yuan> {
    (fen(), any::<bool>()).prop_map(|(f, short)| {
        let mut d = Decimal::new(i64::try_from(f).unwrap(), 2);
        if short && f % 100 == 0 {
            d = d.normalize(); // the same amount at scale 0 or 1
        }
        Yuan::new(d).unwrap()
    })
}

proptest! {
    #[test]
    fn yuan_fen_round_trips(f in fen(), y in yuan()) {
        prop_assert_eq!(Yuan::try_from_fen(f).unwrap().to_fen(), f);
        prop_assert_eq!(Yuan::saturating_from_fen(f).to_fen(), f);
        prop_assert_eq!(Yuan::try_from_fen(y.to_fen()).unwrap(), y);
        // Exactly amount × 100, nothing rounded.
        prop_assert_eq!(Decimal::from(y.to_fen()), y.amount() * Decimal::ONE_HUNDRED);
        // Built from fen, an amount shows two places like every other.
        prop_assert_eq!(Yuan::try_from_fen(f).unwrap().to_string(), Yuan::new(Decimal::new(i64::try_from(f).unwrap(), 2)).unwrap().to_string());
        if let Ok(small) = u32::try_from(f) {
            prop_assert_eq!(Yuan::from_fen(small), Yuan::try_from_fen(f).unwrap());
        }
    }

    #[test]
    fn yuan_fen_is_monotone(a in yuan(), b in yuan(), f in any::<u64>(), g in any::<u64>()) {
        prop_assert_eq!(a.cmp(&b), a.to_fen().cmp(&b.to_fen()));
        let (lo, hi) = (f.min(g), f.max(g));
        prop_assert!(Yuan::saturating_from_fen(lo) <= Yuan::saturating_from_fen(hi));
        // Beyond the limit: refused by `try_`, clamped by `saturating_`.
        prop_assert_eq!(Yuan::try_from_fen(f).is_ok(), f <= MAX_FEN);
        prop_assert_eq!(Yuan::saturating_from_fen(f).to_fen(), f.min(MAX_FEN));
    }

    #[test]
    fn signed_fen_round_trips_and_is_monotone(f in fen(), g in fen(), nf in any::<bool>(), ng in any::<bool>(), wide in any::<i64>()) {
        let sign = |x: u64, neg: bool| {
            let v = i64::try_from(x).unwrap();
            if neg { -v } else { v }
        };
        let (a, b) = (sign(f, nf), sign(g, ng));
        let (ya, yb) = (SignedYuan::try_from_fen(a).unwrap(), SignedYuan::try_from_fen(b).unwrap());
        prop_assert_eq!(ya.to_fen(), a);
        prop_assert_eq!(SignedYuan::saturating_from_fen(a), ya);
        prop_assert_eq!(ya.cmp(&yb), a.cmp(&b));
        let limit = i64::try_from(MAX_FEN).unwrap();
        prop_assert_eq!(SignedYuan::try_from_fen(wide).is_ok(), (-limit..=limit).contains(&wide));
        prop_assert_eq!(SignedYuan::saturating_from_fen(wide).to_fen(), wide.clamp(-limit, limit));
        // A `Yuan` in signed form has the same fen.
        let y = Yuan::try_from_fen(f).unwrap();
        prop_assert_eq!(SignedYuan::from(y).to_fen(), a.abs());
    }
}
