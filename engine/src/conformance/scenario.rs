//! Scenario files of the conformance format (`conformance/FORMAT.md`), parsed with errors
//! that name the file and the field.

use highwater_operators::strategy::{
    Accumulation, ClosingBehavior, OnTimeBehavior, StrategyError, TimestampCombiner, WindowingStrategy,
};
use highwater_operators::trigger::Trigger;
use highwater_operators::window::WindowSpec;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// How a scenario combines its values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CombineKind {
    /// The pane value is the multiset of element values.
    Collect,
    /// The numeric sum.
    Sum,
    /// The number of elements.
    Count,
}

/// One element of an `input` action.
#[derive(Clone, Debug, PartialEq)]
pub struct Element {
    /// Event time.
    pub ts: i64,
    /// The value (a number or a string).
    pub value: Value,
    /// The key.
    pub key: String,
}

/// One transcript action.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// A bundle of elements.
    Input(Vec<Element>),
    /// The input watermark advances.
    Watermark(i64),
    /// Processing time advances.
    ProcessingTime(i64),
    /// Expected panes (checked by the comparer, not the runner).
    Expect(Vec<Value>),
    /// End of input: the watermark jumps to +∞.
    End,
}

/// A parsed scenario.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// Where it was read from.
    pub path: PathBuf,
    /// Its name.
    pub name: String,
    /// The window function.
    pub window: WindowSpec,
    /// The trigger.
    pub trigger: Trigger,
    /// Allowed lateness in ticks.
    pub allowed_lateness: i64,
    /// Accumulation mode.
    pub accumulation: Accumulation,
    /// Timestamp combiner, or the text of an optional one highwater does not implement.
    pub timestamp_combiner: Result<TimestampCombiner, String>,
    /// Extension field `closing_behavior` (absent: Beam's default, `fire_if_non_empty`).
    pub closing_behavior: ClosingBehavior,
    /// Extension field `on_time_behavior` (absent: Beam's default, `fire_always`).
    pub on_time_behavior: OnTimeBehavior,
    /// How values combine.
    pub combine: CombineKind,
    /// The transcript.
    pub transcript: Vec<Action>,
    /// The raw JSON (the comparer reads the expectations from it).
    pub raw: Value,
}

/// A scenario file that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScenarioError {
    /// The file cannot be read.
    #[error("{path}: cannot read the scenario: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not JSON.
    #[error("{path}: not valid JSON: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// Why.
        source: serde_json::Error,
    },
    /// A field is missing or wrong.
    #[error("{path}: field `{field}`: {reason}")]
    Field {
        /// The file.
        path: PathBuf,
        /// The field (with its position in the transcript where it applies).
        field: String,
        /// What is wrong and what is expected.
        reason: String,
    },
}

impl Scenario {
    /// Reads and checks a scenario file.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ScenarioError::Io { path: path.to_path_buf(), source })?;
        let raw: Value =
            serde_json::from_str(&text).map_err(|source| ScenarioError::Json { path: path.to_path_buf(), source })?;
        Scenario::from_value(path, raw)
    }

    /// Checks an already parsed scenario; `path` names it in errors.
    pub fn from_value(path: &Path, raw: Value) -> Result<Scenario, ScenarioError> {
        let field =
            |f: &str, reason: String| ScenarioError::Field { path: path.to_path_buf(), field: f.to_string(), reason };
        let obj = raw.as_object().ok_or_else(|| field("(top level)", "a scenario is one JSON object".into()))?;
        let get = |f: &str| obj.get(f).ok_or_else(|| field(f, "missing (FORMAT.md lists the required fields)".into()));
        let get_str = |f: &str| -> Result<&str, ScenarioError> {
            get(f)?.as_str().ok_or_else(|| field(f, "must be a string".into()))
        };
        let name = obj
            .get("name")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default());
        let window: WindowSpec = get_str("window")?
            .parse()
            .map_err(|e: highwater_operators::window::WindowError| field("window", e.to_string()))?;
        let trigger: Trigger = get_str("trigger")?
            .parse()
            .map_err(|e: highwater_operators::trigger::TriggerError| field("trigger", e.to_string()))?;
        let allowed_lateness = get("allowed_lateness")?
            .as_i64()
            .filter(|l| *l >= 0)
            .ok_or_else(|| field("allowed_lateness", "must be an integer >= 0".into()))?;
        let accumulation: Accumulation =
            get_str("accumulation")?.parse().map_err(|e: String| field("accumulation", e))?;
        let tc_text = get_str("timestamp_combiner")?;
        let timestamp_combiner = match tc_text.parse::<TimestampCombiner>() {
            Ok(c) => Ok(c),
            Err(e) => return Err(field("timestamp_combiner", e)),
        };
        // Optional highwater extensions (docs/conformance-format.md): absent means Beam's default.
        let closing_behavior = match obj.get("closing_behavior") {
            None => ClosingBehavior::default(),
            Some(_) => get_str("closing_behavior")?.parse().map_err(|e: String| field("closing_behavior", e))?,
        };
        let on_time_behavior = match obj.get("on_time_behavior") {
            None => OnTimeBehavior::default(),
            Some(_) => get_str("on_time_behavior")?.parse().map_err(|e: String| field("on_time_behavior", e))?,
        };
        let combine = match get_str("combine")? {
            "collect" => CombineKind::Collect,
            "sum" => CombineKind::Sum,
            "count" => CombineKind::Count,
            other => return Err(field("combine", format!("unknown combine `{other}`; use collect, sum or count"))),
        };
        let actions =
            get("transcript")?.as_array().ok_or_else(|| field("transcript", "must be a list of actions".into()))?;
        let mut transcript = Vec::with_capacity(actions.len());
        for (i, a) in actions.iter().enumerate() {
            let at = format!("transcript[{i}]");
            let o = a
                .as_object()
                .filter(|o| o.len() == 1)
                .ok_or_else(|| field(&at, "an action is an object with exactly one field".into()))?;
            let (kind, v) = o.iter().next().expect("one field");
            let action = match kind.as_str() {
                "input" => {
                    let list = v
                        .as_array()
                        .ok_or_else(|| field(&format!("{at}.input"), "must be a list of elements".into()))?;
                    let mut els = Vec::with_capacity(list.len());
                    for (j, e) in list.iter().enumerate() {
                        els.push(parse_element(e).map_err(|r| field(&format!("{at}.input[{j}]"), r))?);
                    }
                    if combine == CombineKind::Sum {
                        if let Some((j, _)) = els.iter().enumerate().find(|(_, e)| !e.value.is_number()) {
                            return Err(field(
                                &format!("{at}.input[{j}]"),
                                "combine `sum` needs numeric values".into(),
                            ));
                        }
                    }
                    Action::Input(els)
                }
                "watermark" => Action::Watermark(
                    v.as_i64().ok_or_else(|| field(&format!("{at}.watermark"), "must be an integer".into()))?,
                ),
                "processing_time" => Action::ProcessingTime(
                    v.as_i64().ok_or_else(|| field(&format!("{at}.processing_time"), "must be an integer".into()))?,
                ),
                "expect" => Action::Expect(
                    v.as_array()
                        .cloned()
                        .ok_or_else(|| field(&format!("{at}.expect"), "must be a list of panes".into()))?,
                ),
                "end" => Action::End,
                other => {
                    return Err(field(
                        &at,
                        format!("unknown action `{other}`; use input, watermark, processing_time, expect or end"),
                    ))
                }
            };
            transcript.push(action);
        }
        let mut ended = false;
        for (i, a) in transcript.iter().enumerate() {
            match a {
                Action::End => ended = true,
                Action::Expect(_) => {}
                _ if ended => return Err(field(&format!("transcript[{i}]"), "only `expect` may follow `end`".into())),
                _ => {}
            }
        }
        Ok(Scenario {
            path: path.to_path_buf(),
            name,
            window,
            trigger,
            allowed_lateness,
            accumulation,
            timestamp_combiner,
            closing_behavior,
            on_time_behavior,
            combine,
            transcript,
            raw,
        })
    }

    /// The windowing strategy, validated (an invalid trigger is an error naming the field).
    pub fn strategy(&self) -> Result<WindowingStrategy, ScenarioError> {
        let tc = self.timestamp_combiner.clone().unwrap_or_default();
        WindowingStrategy::new(self.window.clone())
            .trigger(self.trigger.clone())
            .allowed_lateness(self.allowed_lateness)
            .accumulation(self.accumulation)
            .timestamp_combiner(tc)
            .closing_behavior(self.closing_behavior)
            .on_time_behavior(self.on_time_behavior)
            .build()
            .map_err(|e: StrategyError| ScenarioError::Field {
                path: self.path.clone(),
                field: "trigger".into(),
                reason: e.to_string(),
            })
    }
}

fn parse_element(e: &Value) -> Result<Element, String> {
    match e {
        Value::Number(n) => {
            let ts = n.as_i64().ok_or("an element timestamp must be an integer")?;
            Ok(Element { ts, value: e.clone(), key: "k".into() })
        }
        Value::Object(o) => {
            let ts = o.get("ts").and_then(Value::as_i64).ok_or("an element object needs an integer `ts`")?;
            let value = o.get("value").cloned().unwrap_or_else(|| Value::from(ts));
            if !(value.is_number() || value.is_string()) {
                return Err("`value` must be a number or a string".into());
            }
            let key = match o.get("key") {
                None => "k".to_string(),
                Some(Value::String(s)) => s.clone(),
                Some(_) => return Err("`key` must be a string".into()),
            };
            Ok(Element { ts, value, key })
        }
        _ => Err("an element is an integer timestamp or an object {\"ts\", \"value\", \"key\"}".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario(extra: &str) -> Result<Scenario, ScenarioError> {
        let text = format!(
            r#"{{"name": "x", "source": "test", "window": "fixed(10)", "trigger": "default",
                "allowed_lateness": 5, "accumulation": "discarding", "timestamp_combiner": "end_of_window",
                "combine": "collect", "transcript": [{{"input": [1]}}, {{"end": true}}] {extra}}}"#
        );
        Scenario::from_value(Path::new("x.json"), serde_json::from_str(&text).unwrap())
    }

    #[test]
    fn closing_and_on_time_behaviors_default_to_beams() {
        let s = scenario("").unwrap();
        assert_eq!(
            (s.closing_behavior, s.on_time_behavior),
            (ClosingBehavior::FireIfNonEmpty, OnTimeBehavior::FireAlways)
        );
        let st = s.strategy().unwrap();
        assert_eq!(
            (st.closing_behavior, st.on_time_behavior),
            (ClosingBehavior::FireIfNonEmpty, OnTimeBehavior::FireAlways)
        );
    }

    #[test]
    fn closing_and_on_time_behaviors_are_read_into_the_strategy() {
        let s = scenario(r#", "closing_behavior": "fire_always", "on_time_behavior": "fire_if_non_empty""#).unwrap();
        let st = s.strategy().unwrap();
        assert_eq!(st.closing_behavior, ClosingBehavior::FireAlways);
        assert_eq!(st.on_time_behavior, OnTimeBehavior::FireIfNonEmpty);
    }

    #[test]
    fn a_wrong_behavior_names_the_field_and_the_choices() {
        let err = scenario(r#", "closing_behavior": "sometimes""#).unwrap_err().to_string();
        assert!(err.contains("closing_behavior") && err.contains("fire_always"), "{err}");
        let err = scenario(r#", "on_time_behavior": 3"#).unwrap_err().to_string();
        assert!(err.contains("on_time_behavior") && err.contains("string"), "{err}");
    }
}
