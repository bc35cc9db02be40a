//! Journey metrics: ClickHouse-exact funnels, retention cohorts, clinic rates, adherence, satisfaction, channel economics.
