//! Splitting work: row chunks, weighted bucket ranges, and scoped threads behind the
//! `parallel` feature (the same code runs sequentially without it).

/// Runs `f(0..n)`, on scoped threads with the `parallel` feature.
pub(crate) fn fan_out<T: Send, F: Fn(usize) -> T + Sync>(n: usize, f: F) -> Vec<T> {
    fan_out_owned((0..n).collect(), f)
}

/// Runs `f` on each item, on scoped threads with the `parallel` feature, each thread
/// owning its item; the results come back in item order.
pub(crate) fn fan_out_owned<T: Send, U: Send, F: Fn(T) -> U + Sync>(items: Vec<T>, f: F) -> Vec<U> {
    #[cfg(feature = "parallel")]
    if items.len() > 1 {
        let f = &f;
        return std::thread::scope(|s| {
            let mut items = items.into_iter();
            let first = items.next();
            let handles: Vec<_> = items.map(|it| s.spawn(move || f(it))).collect();
            let mut out: Vec<U> = first.into_iter().map(f).collect();
            for h in handles {
                match h.join() {
                    Ok(v) => out.push(v),
                    Err(e) => std::panic::resume_unwind(e),
                }
            }
            out
        });
    }
    items.into_iter().map(f).collect()
}

pub(crate) fn split(len: usize, parts: usize) -> Vec<std::ops::Range<usize>> {
    (0..parts)
        .map(|i| len * i / parts..len * (i + 1) / parts)
        .collect()
}

/// Splits `buckets` into `parts` contiguous ranges of about equal `weight`.
pub(crate) fn balance(weight: &[u64], parts: usize) -> Vec<std::ops::Range<usize>> {
    let total: u64 = weight.iter().sum();
    let mut ranges = Vec::with_capacity(parts);
    let (mut from, mut acc) = (0usize, 0u64);
    for (b, c) in weight.iter().enumerate() {
        acc += c;
        if acc * parts as u64 >= total * (ranges.len() as u64 + 1) && ranges.len() + 1 < parts {
            ranges.push(from..b + 1);
            from = b + 1;
        }
    }
    ranges.push(from..weight.len());
    ranges
}
