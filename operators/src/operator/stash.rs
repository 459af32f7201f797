//! The stamps an operator has received but not yet applied, in stamp order.

use crate::time::Time;
use std::collections::BTreeMap;

/// Adds a container received at stamp `t` to the stash. The first container of a stamp
/// is taken whole (swapped with the empty one), not copied; later ones are appended.
pub(super) fn stash_at<D>(stash: &mut BTreeMap<Time, Vec<D>>, t: Time, data: &mut Vec<D>) {
    let entry = stash.entry(t).or_default();
    if entry.is_empty() {
        std::mem::swap(entry, data);
    } else {
        entry.append(data);
    }
}

#[cfg(test)]
mod tests {
    use super::stash_at;
    use crate::time::Time;
    use std::collections::BTreeMap;

    #[test]
    fn containers_of_one_stamp_are_kept_in_arrival_order() {
        let mut stash = BTreeMap::new();
        let (t, u) = (Time::new(5, 0), Time::new(3, 0));
        stash_at(&mut stash, t, &mut vec![1, 2]);
        stash_at(&mut stash, u, &mut vec![9]);
        let mut more = vec![3];
        stash_at(&mut stash, t, &mut more);
        assert!(more.is_empty());
        assert_eq!(stash.into_iter().collect::<Vec<_>>(), vec![(u, vec![9]), (t, vec![1, 2, 3])]);
    }
}
