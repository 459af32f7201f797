//! The combiners of the conformance format over JSON values: collect, sum, count.

use super::scenario::CombineKind;
use highwater_operators::combine::CombineFn;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A running `sum` that stays an integer until a float arrives.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Number {
    /// Integer sum.
    Int(i64),
    /// Floating-point sum.
    Float(f64),
}

impl Number {
    fn of(v: &Value) -> Number {
        match v.as_i64() {
            Some(i) => Number::Int(i),
            None => Number::Float(v.as_f64().unwrap_or(0.0)),
        }
    }
    fn add(self, o: Number) -> Number {
        match (self, o) {
            (Number::Int(a), Number::Int(b)) => {
                a.checked_add(b).map_or(Number::Float(a as f64 + b as f64), Number::Int)
            }
            (a, b) => Number::Float(a.as_f64() + b.as_f64()),
        }
    }
    fn as_f64(self) -> f64 {
        match self {
            Number::Int(i) => i as f64,
            Number::Float(f) => f,
        }
    }
    fn to_json(self) -> Value {
        match self {
            Number::Int(i) => Value::from(i),
            Number::Float(f) => serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number),
        }
    }
}

/// The accumulator of [`ScenarioCombine`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ScenarioAcc {
    /// Collected values.
    Values(Vec<Value>),
    /// A running sum.
    Sum(Number),
    /// A running count.
    Count(u64),
}

/// Collect, sum or count over JSON values; the output is the JSON of the pane value.
#[derive(Clone, Copy, Debug)]
pub struct ScenarioCombine(pub CombineKind);

impl CombineFn<Value> for ScenarioCombine {
    type Acc = ScenarioAcc;
    type Out = Value;
    fn create(&self) -> ScenarioAcc {
        match self.0 {
            CombineKind::Collect => ScenarioAcc::Values(Vec::new()),
            CombineKind::Sum => ScenarioAcc::Sum(Number::Int(0)),
            CombineKind::Count => ScenarioAcc::Count(0),
        }
    }
    fn add(&self, acc: &mut ScenarioAcc, v: Value) {
        match acc {
            ScenarioAcc::Values(vs) => vs.push(v),
            ScenarioAcc::Sum(s) => *s = s.add(Number::of(&v)),
            ScenarioAcc::Count(c) => *c += 1,
        }
    }
    fn merge(&self, acc: &mut ScenarioAcc, other: ScenarioAcc) {
        match (acc, other) {
            (ScenarioAcc::Values(a), ScenarioAcc::Values(mut b)) => a.append(&mut b),
            (ScenarioAcc::Sum(a), ScenarioAcc::Sum(b)) => *a = a.add(b),
            (ScenarioAcc::Count(a), ScenarioAcc::Count(b)) => *a += b,
            _ => {}
        }
    }
    fn extract(&self, acc: &ScenarioAcc) -> Value {
        match acc {
            ScenarioAcc::Values(vs) => Value::Array(vs.clone()),
            ScenarioAcc::Sum(s) => s.to_json(),
            ScenarioAcc::Count(c) => Value::from(*c),
        }
    }
}
