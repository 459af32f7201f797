//! Several aggregates of named fields at once (`--count --sum price --max price`), as one
//! [`CombineFn`] over a small accumulator holding them all.

use crate::format::{Num, Values};
use highwater_operators::combine::CombineFn;
use serde_json::Value;
use smallvec::SmallVec;
use std::cmp::Ordering;

/// One requested aggregate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Aggregate {
    /// The number of records.
    Count,
    /// The sum of a field.
    Sum(String),
    /// The smallest value of a field.
    Min(String),
    /// The largest value of a field.
    Max(String),
    /// The arithmetic mean of a field.
    Mean(String),
}

impl Aggregate {
    /// The output column: `count`, `sum_price`, `min_price`, …
    pub fn name(&self) -> String {
        match self {
            Aggregate::Count => "count".to_string(),
            Aggregate::Sum(f) => format!("sum_{f}"),
            Aggregate::Min(f) => format!("min_{f}"),
            Aggregate::Max(f) => format!("max_{f}"),
            Aggregate::Mean(f) => format!("mean_{f}"),
        }
    }
    /// The field it reads, if any.
    pub fn field(&self) -> Option<&str> {
        match self {
            Aggregate::Count => None,
            Aggregate::Sum(f) | Aggregate::Min(f) | Aggregate::Max(f) | Aggregate::Mean(f) => Some(f),
        }
    }
}

/// The aggregates of a job over records whose values are the fields of
/// [`AggregateSet::value_fields`], in that order.
///
/// ```
/// use highwater::cli::aggregates::{Aggregate, AggregateSet};
/// use highwater::model::combine::CombineFn;
/// use highwater::format::{Num, Values};
/// let set = AggregateSet::new(vec![Aggregate::Count, Aggregate::Sum("p".into()), Aggregate::Mean("p".into())]);
/// assert_eq!(set.value_fields(), &["p".to_string()]);
/// let mut acc = set.create();
/// set.add(&mut acc, Values::from_iter([Num::Int(2)]));
/// set.add(&mut acc, Values::from_iter([Num::Int(4)]));
/// let out = set.extract(&acc);
/// assert_eq!(set.names(), ["count", "sum_p", "mean_p"]);
/// assert_eq!(out.0[1], Some(Num::Int(6)));
/// assert_eq!(out.0[2], Some(Num::Float(3.0)));
/// let mut json = String::new();
/// set.write_json_fields(&mut json, &out);
/// assert_eq!(json, r#","count":2,"sum_p":6,"mean_p":3.0"#);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct AggregateSet {
    aggregates: Vec<Aggregate>,
    /// Output column names, and each as `,"name":` ready to write.
    names: Vec<String>,
    json_names: Vec<String>,
    /// An empty accumulator, cloned by `create`.
    empty: Accumulators,
    /// Per aggregate, the index of its field among `fields` (unused for `Count`).
    slots: Vec<usize>,
    fields: Vec<String>,
}

impl AggregateSet {
    /// The aggregates, in output order.
    pub fn new(aggregates: Vec<Aggregate>) -> Self {
        let mut fields: Vec<String> = Vec::new();
        let mut slots = Vec::with_capacity(aggregates.len());
        for a in &aggregates {
            let slot = match a.field() {
                None => 0,
                Some(f) => fields.iter().position(|x| x == f).unwrap_or_else(|| {
                    fields.push(f.to_string());
                    fields.len() - 1
                }),
            };
            slots.push(slot);
        }
        let names: Vec<String> = aggregates.iter().map(Aggregate::name).collect();
        let json_names = names.iter().map(|n| format!(",{}:", Value::from(n.as_str()))).collect();
        let empty = Accumulators(
            aggregates
                .iter()
                .map(|a| match a {
                    Aggregate::Count => Slot::Count(0),
                    Aggregate::Sum(_) => Slot::Sum(Num::Int(0)),
                    Aggregate::Min(_) | Aggregate::Max(_) => Slot::Extreme(None),
                    Aggregate::Mean(_) => Slot::Mean(0.0, 0),
                })
                .collect(),
        );
        AggregateSet { aggregates, names, json_names, empty, slots, fields }
    }
    /// The output column of each aggregate (`count`, `max_price`, …), in output order.
    pub fn names(&self) -> &[String] {
        &self.names
    }
    /// Appends `,"name":value` for each aggregate of a pane value to a JSON object under
    /// construction (`null` for the extreme or mean of nothing, or a non-finite float).
    pub fn write_json_fields(&self, out: &mut String, values: &AggregateValues) {
        for (name, v) in self.json_names.iter().zip(&values.0) {
            out.push_str(name);
            write_num(out, *v);
        }
    }
    /// Appends a pane value as one JSON object, `{"name":value,…}` in output order (the
    /// `value` of `highwater run`'s pane rows).
    ///
    /// ```
    /// use highwater::cli::aggregates::{Aggregate, AggregateSet, AggregateValues};
    /// use highwater::format::Num;
    /// let set = AggregateSet::new(vec![Aggregate::Count, Aggregate::Max("price".into())]);
    /// let mut json = String::new();
    /// set.write_json_object(&mut json, &AggregateValues(smallvec::smallvec![Some(Num::Int(2)), None]));
    /// assert_eq!(json, r#"{"count":2,"max_price":null}"#);
    /// ```
    pub fn write_json_object(&self, out: &mut String, values: &AggregateValues) {
        out.push('{');
        for (i, (name, v)) in self.json_names.iter().zip(&values.0).enumerate() {
            // Each name is written as `,"name":`; the first without its comma.
            out.push_str(if i == 0 { &name[1..] } else { name });
            write_num(out, *v);
        }
        out.push('}');
    }
    /// The numeric fields each record must carry, in order.
    pub fn value_fields(&self) -> &[String] {
        &self.fields
    }
    /// The aggregates, in output order.
    pub fn aggregates(&self) -> &[Aggregate] {
        &self.aggregates
    }
}

/// The running state of one aggregate.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Slot {
    /// A count.
    Count(u64),
    /// A sum.
    Sum(Num),
    /// A minimum or maximum so far.
    Extreme(Option<Num>),
    /// Sum and count of a mean.
    Mean(f64, u64),
}

/// The accumulator of an [`AggregateSet`]: one slot per aggregate (inline for up to
/// three: no allocation per window).
#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Accumulators(pub SmallVec<[Slot; 3]>);

impl Clone for Accumulators {
    /// One copy of the slots (a derived clone went slot by slot through an iterator: a
    /// new accumulator per (key, window) made it a twelfth of a sliding-window replay).
    /// Inline (up to three slots, the usual case) the slots are copied as one array: a
    /// copy of a slice of unknown length is a call to `memcpy`, and a new accumulator per
    /// (key, window) made that call a fifth of a sliding-window replay.
    #[inline]
    fn clone(&self) -> Self {
        const Z: Slot = Slot::Count(0);
        Accumulators(match *self.0.as_slice() {
            [] => SmallVec::new(),
            [a] => SmallVec::from_buf_and_len([a, Z, Z], 1),
            [a, b] => SmallVec::from_buf_and_len([a, b, Z], 2),
            [a, b, c] => SmallVec::from_buf([a, b, c]),
            ref more => SmallVec::from_slice(more),
        })
    }
}

/// The pane value: one number per aggregate in output order ([`AggregateSet::names`]);
/// `None` for the extreme or mean of no values.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AggregateValues(pub SmallVec<[Option<Num>; 3]>);

/// Appends a number as JSON: integers digit by digit, floats as serde_json writes them
/// (`null` when not finite).
pub(crate) fn write_num(out: &mut String, v: Option<Num>) {
    match v {
        Some(Num::Int(i)) => out.push_str(itoa::Buffer::new().format(i)),
        Some(Num::Float(f)) => match serde_json::Number::from_f64(f) {
            Some(n) => {
                use std::fmt::Write;
                let _ = write!(out, "{n}");
            }
            None => out.push_str("null"),
        },
        None => out.push_str("null"),
    }
}

#[inline]
fn keep(acc: &mut Option<Num>, v: Num, want: Ordering) {
    if acc.is_none_or(|a| v.cmp_num(a) == want) {
        *acc = Some(v);
    }
}

impl AggregateSet {
    #[inline]
    fn add_one(&self, i: usize, slot: &mut Slot, v: Num) {
        match (slot, &self.aggregates[i]) {
            (Slot::Count(c), _) => *c += 1,
            (Slot::Sum(s), _) => *s = *s + v,
            (Slot::Extreme(e), Aggregate::Min(_)) => keep(e, v, Ordering::Less),
            (Slot::Extreme(e), _) => keep(e, v, Ordering::Greater),
            (Slot::Mean(s, n), _) => {
                *s += v.as_f64();
                *n += 1;
            }
        }
    }
}

impl CombineFn<Values> for AggregateSet {
    type Acc = Accumulators;
    type Out = AggregateValues;
    #[inline]
    fn create(&self) -> Accumulators {
        self.empty.clone()
    }
    #[inline(always)]
    fn add(&self, acc: &mut Accumulators, values: Values) {
        self.add_ref(acc, &values)
    }
    /// Reads the numbers in place: a record of several (sliding) windows is not copied
    /// for each.
    #[inline(always)]
    fn add_ref(&self, acc: &mut Accumulators, values: &Values) {
        for (i, slot) in acc.0.iter_mut().enumerate() {
            // A record always carries every field (the source checks it); a missing one
            // counts as zero rather than panicking.
            let v = values.get(self.slots[i]).copied().unwrap_or(Num::Int(0));
            self.add_one(i, slot, v);
        }
    }
    fn merge(&self, acc: &mut Accumulators, other: Accumulators) {
        for (i, (slot, o)) in acc.0.iter_mut().zip(other.0).enumerate() {
            match (slot, o) {
                (Slot::Count(a), Slot::Count(b)) => *a += b,
                (Slot::Sum(a), Slot::Sum(b)) => *a = *a + b,
                (Slot::Extreme(_), Slot::Extreme(None)) => {}
                (slot @ Slot::Extreme(_), Slot::Extreme(Some(v))) => self.add_one(i, slot, v),
                (Slot::Mean(s, n), Slot::Mean(s2, n2)) => {
                    *s += s2;
                    *n += n2;
                }
                _ => {}
            }
        }
    }
    fn extract(&self, acc: &Accumulators) -> AggregateValues {
        AggregateValues(
            acc.0
                .iter()
                .map(|slot| match slot {
                    Slot::Count(c) => Some(i64::try_from(*c).map_or(Num::Float(*c as f64), Num::Int)),
                    Slot::Sum(s) => Some(*s),
                    Slot::Extreme(e) => *e,
                    Slot::Mean(s, n) => (*n > 0).then(|| Num::Float(s / *n as f64)),
                })
                .collect(),
        )
    }
}
