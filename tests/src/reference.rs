//! The one batch reference of the tests: a naive group-by-window over `(key, event time)`,
//! computed from the definition of each window function, not with the engine's code.

use highwater_operators::window::{Window, WindowSpec};
use std::collections::BTreeMap;

/// The windows of `spec` that contain an element at event time `t` (for sessions, the
/// element's own proto-session `[t, t + gap)`, before merging).
///
/// ```
/// use highwater_operators::window::{Window, WindowSpec};
/// use highwater_tests::windows_of;
/// assert_eq!(windows_of(&WindowSpec::fixed(10), -3), vec![Window::new(-10, 0)]);
/// assert_eq!(windows_of(&WindowSpec::sliding(10, 5), 7), vec![Window::new(0, 10), Window::new(5, 15)]);
/// ```
pub fn windows_of(spec: &WindowSpec, t: i64) -> Vec<Window> {
    match *spec {
        WindowSpec::Global => vec![Window::GLOBAL],
        WindowSpec::Fixed { size, offset } => {
            let start = t - (t - offset).rem_euclid(size);
            vec![Window::new(start, start + size)]
        }
        WindowSpec::Sliding { size, period, offset } => {
            let last = t - (t - offset).rem_euclid(period);
            let mut starts: Vec<i64> = (0..).map(|k| last - k * period).take_while(|s| t < s + size).collect();
            starts.reverse();
            starts.into_iter().map(|s| Window::new(s, s + size)).collect()
        }
        WindowSpec::Sessions { gap } => vec![Window::new(t, t + gap)],
    }
}

/// Batch group-by-window: the values of `records` (`(key, event time, value)`) per key
/// and window of `spec`; sessions are merged per key (an element joins the session it
/// falls before the end of). Values keep the order of their event times.
///
/// ```
/// use highwater_operators::window::{Window, WindowSpec};
/// use highwater_tests::group_by_window;
/// let g = group_by_window(&WindowSpec::sessions(5), [("a", 0, 1), ("a", 12, 2), ("a", 3, 3)]);
/// assert_eq!(g[&("a", Window::new(0, 8))], vec![1, 3]);
/// assert_eq!(g[&("a", Window::new(12, 17))], vec![2]);
/// ```
pub fn group_by_window<K: Ord + Clone, V: Clone>(
    spec: &WindowSpec,
    records: impl IntoIterator<Item = (K, i64, V)>,
) -> BTreeMap<(K, Window), Vec<V>> {
    let mut per_key: BTreeMap<K, Vec<(i64, V)>> = BTreeMap::new();
    for (k, t, v) in records {
        per_key.entry(k).or_default().push((t, v));
    }
    let mut out: BTreeMap<(K, Window), Vec<V>> = BTreeMap::new();
    for (k, mut elements) in per_key {
        elements.sort_by_key(|e| e.0);
        if let WindowSpec::Sessions { gap } = *spec {
            let mut current: Option<(Window, Vec<V>)> = None;
            for (t, v) in elements {
                current = match current {
                    Some((w, mut vs)) if t < w.end => {
                        vs.push(v);
                        Some((Window::new(w.start, w.end.max(t + gap)), vs))
                    }
                    Some((w, vs)) => {
                        out.insert((k.clone(), w), vs);
                        Some((Window::new(t, t + gap), vec![v]))
                    }
                    None => Some((Window::new(t, t + gap), vec![v])),
                };
            }
            if let Some((w, vs)) = current {
                out.insert((k, w), vs);
            }
        } else {
            for (t, v) in elements {
                for w in windows_of(spec, t) {
                    out.entry((k.clone(), w)).or_default().push(v.clone());
                }
            }
        }
    }
    out
}

/// Batch count per key and window of `spec` over `(key, event time)`.
///
/// ```
/// use highwater_operators::window::{Window, WindowSpec};
/// use highwater_tests::batch_counts;
/// let c = batch_counts(&WindowSpec::fixed(10), [(1, 3), (1, 9), (2, 10)]);
/// assert_eq!(c.into_iter().collect::<Vec<_>>(), [((1, Window::new(0, 10)), 2), ((2, Window::new(10, 20)), 1)]);
/// ```
pub fn batch_counts<K: Ord + Clone>(
    spec: &WindowSpec,
    records: impl IntoIterator<Item = (K, i64)>,
) -> BTreeMap<(K, Window), u64> {
    group_by_window(spec, records.into_iter().map(|(k, t)| (k, t, ())))
        .into_iter()
        .map(|(kw, vs)| (kw, vs.len() as u64))
        .collect()
}

/// Per window, the largest value of any key and the keys that have it, in key order
/// (Nexmark q5's hot items over [`batch_counts`]).
///
/// ```
/// use highwater_operators::window::Window;
/// use highwater_tests::max_per_window;
/// let w = Window::new(0, 10);
/// let counts = [((1, w), 3), ((2, w), 5), ((3, w), 5)].into_iter().collect();
/// assert_eq!(max_per_window(&counts)[&w], (5, vec![2, 3]));
/// ```
pub fn max_per_window<K: Ord + Clone>(per_key: &BTreeMap<(K, Window), u64>) -> BTreeMap<Window, (u64, Vec<K>)> {
    let mut max: BTreeMap<Window, (u64, Vec<K>)> = BTreeMap::new();
    for ((k, w), n) in per_key {
        let e = max.entry(*w).or_insert((0, Vec::new()));
        if *n > e.0 {
            *e = (*n, vec![k.clone()]);
        } else if *n == e.0 {
            e.1.push(k.clone());
        }
    }
    max
}
