//! Campaign rules: campaigns as data, a pure explainable engine, caps, conflicts, consent and ad-law checks.
