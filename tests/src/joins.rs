//! The batch references of the joins: each join computed from its definition over all
//! records at once (nested loops), not with the engine's code.

use crate::windows_of;
use highwater_operators::join::{IntervalJoined, JoinKind, TemporalJoined, WindowJoined};
use highwater_operators::window::{Window, WindowSpec};
use std::collections::BTreeMap;

/// The batch window join of `left` and `right` (`(key, event time, value)`) over windows
/// of `spec`, no record late: per key and window, every left value with every right
/// value, at the window's maximum timestamp; with `kind`, the records of a side whose
/// window has none of the other side, alone. Sorted.
///
/// ```
/// use highwater_operators::join::JoinKind;
/// use highwater_operators::window::WindowSpec;
/// use highwater_tests::batch_window_join;
/// let rows = batch_window_join(&WindowSpec::fixed(10), JoinKind::Left, &[("k", 1, 'a'), ("k", 12, 'b')], &[("k", 5, 'x')]);
/// assert_eq!(rows.len(), 2);
/// assert_eq!((rows[0].1.left, rows[0].1.right, rows[1].1.right), (Some('a'), Some('x'), None));
/// ```
pub fn batch_window_join<K: Ord + Clone, L: Ord + Clone, R: Ord + Clone>(
    spec: &WindowSpec,
    kind: JoinKind,
    left: &[(K, i64, L)],
    right: &[(K, i64, R)],
) -> Vec<(i64, WindowJoined<K, L, R>)> {
    type Groups<K, L, R> = BTreeMap<(K, Window), (Vec<L>, Vec<R>)>;
    let mut groups: Groups<K, L, R> = BTreeMap::new();
    for (k, t, l) in left {
        for w in windows_of(spec, *t) {
            groups.entry((k.clone(), w)).or_default().0.push(l.clone());
        }
    }
    for (k, t, r) in right {
        for w in windows_of(spec, *t) {
            groups.entry((k.clone(), w)).or_default().1.push(r.clone());
        }
    }
    let mut rows = Vec::new();
    for ((key, window), (ls, rs)) in groups {
        let at = window.max_timestamp();
        let row = |left, right| (at, WindowJoined { key: key.clone(), window, left, right });
        for l in &ls {
            for r in &rs {
                rows.push(row(Some(l.clone()), Some(r.clone())));
            }
        }
        if rs.is_empty() && matches!(kind, JoinKind::Left | JoinKind::Full) {
            rows.extend(ls.iter().map(|l| row(Some(l.clone()), None)));
        }
        if ls.is_empty() && matches!(kind, JoinKind::Right | JoinKind::Full) {
            rows.extend(rs.iter().map(|r| row(None, Some(r.clone()))));
        }
    }
    rows.sort();
    rows
}

/// The batch interval join: every left `(k, a, l)` with every right `(k, b, r)` of the
/// same key with `a + lower <= b <= a + upper`, at the later of `a` and `b`. Sorted.
///
/// ```
/// use highwater_tests::batch_interval_join;
/// let pairs = batch_interval_join(0, 5, &[(1, 10, 'a')], &[(1, 12, 'x'), (1, 16, 'y'), (2, 12, 'z')]);
/// assert_eq!(pairs.len(), 1);
/// assert_eq!((pairs[0].0, pairs[0].1.right), (12, 'x'));
/// ```
pub fn batch_interval_join<K: Ord + Clone, L: Ord + Clone, R: Ord + Clone>(
    lower: i64,
    upper: i64,
    left: &[(K, i64, L)],
    right: &[(K, i64, R)],
) -> Vec<(i64, IntervalJoined<K, L, R>)> {
    let mut rows = Vec::new();
    for (ka, a, l) in left {
        for (kb, b, r) in right {
            if ka == kb && a + lower <= *b && *b <= a + upper {
                let row = IntervalJoined {
                    key: ka.clone(),
                    left: l.clone(),
                    left_time: *a,
                    right: r.clone(),
                    right_time: *b,
                };
                rows.push((*a.max(b), row));
            }
        }
    }
    rows.sort();
    rows
}

/// The batch temporal join: each stream record `(k, t, l)` with the latest change of
/// `table` for `k` at or before `t` (`None`: deleted); changes of a key have distinct
/// times. An inner join drops records without a value. Sorted.
///
/// ```
/// use highwater_operators::join::JoinKind;
/// use highwater_tests::batch_temporal_join;
/// let table = [(1, 0, Some('a')), (1, 10, None), (1, 20, Some('b'))];
/// let rows = batch_temporal_join(JoinKind::Left, &[(1, 5, 'x'), (1, 15, 'y'), (1, 20, 'z')], &table);
/// let got: Vec<_> = rows.iter().map(|r| (r.1.left, r.1.right)).collect();
/// assert_eq!(got, [('x', Some('a')), ('y', None), ('z', Some('b'))]);
/// ```
pub fn batch_temporal_join<K: Ord + Clone, L: Ord + Clone, V: Ord + Clone>(
    kind: JoinKind,
    stream: &[(K, i64, L)],
    table: &[(K, i64, Option<V>)],
) -> Vec<(i64, TemporalJoined<K, L, V>)> {
    let mut rows = Vec::new();
    for (k, t, l) in stream {
        let version = table.iter().filter(|(k2, t2, _)| k2 == k && t2 <= t).max_by_key(|c| c.1);
        let (right, version_time) = match version {
            Some((_, vt, Some(v))) => (Some(v.clone()), Some(*vt)),
            _ => (None, None),
        };
        if right.is_some() || kind == JoinKind::Left {
            rows.push((*t, TemporalJoined { key: k.clone(), left: l.clone(), right, version_time }));
        }
    }
    rows.sort();
    rows
}
