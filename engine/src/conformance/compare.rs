//! The comparer: a port of `conformance/compare.py` (same matching, same messages), so
//! `highwater conformance --dir` and the tests need no Python.

use serde_json::Value;

/// The outcome of checking one scenario's output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// Whether the scenario passed.
    pub passed: bool,
    /// The failure kind: `unmatched_output`, `unexpected_output`, `bad_output`,
    /// `bad_retraction`, `bad_scenario`, or `unsupported`.
    pub kind: Option<String>,
    /// The first difference, for humans.
    pub message: String,
}

impl Verdict {
    fn pass(message: &str) -> Self {
        Verdict { passed: true, kind: None, message: message.to_string() }
    }
    fn fail(kind: &str, message: String) -> Self {
        Verdict { passed: false, kind: Some(kind.to_string()), message }
    }
    /// The line compare.py prints: `PASS name`, `FAIL name: ...` or `UNSUPPORTED name: ...`.
    pub fn summary(&self, name: &str) -> String {
        if self.kind.as_deref() == Some("unsupported") {
            format!("UNSUPPORTED {name}: {}", self.message)
        } else if self.passed {
            if self.message.is_empty() {
                format!("PASS {name}")
            } else {
                format!("PASS {name} ({})", self.message)
            }
        } else {
            format!("FAIL {name}: {}", self.message)
        }
    }
}

fn canon(v: &[Value]) -> Vec<(u8, String, f64)> {
    let mut out: Vec<(u8, String, f64)> = v
        .iter()
        .map(|x| match x {
            Value::Bool(b) => (2, b.to_string(), 0.0),
            Value::Number(n) => (0, String::new(), n.as_f64().unwrap_or(0.0)),
            other => (1, other.to_string(), 0.0),
        })
        .collect();
    out.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    out
}

fn num_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(i), Some(j)) => i == j,
            _ => x.as_f64() == y.as_f64(),
        },
        _ => a == b,
    }
}

fn field_equal(field: &str, expected: &Value, actual: &Value) -> bool {
    match field {
        "values" => match (expected, actual) {
            (Value::Array(e), Value::Array(a)) => canon(e) == canon(a),
            _ => false,
        },
        "timing" if expected.is_array() => expected.as_array().is_some_and(|l| l.iter().any(|t| t == actual)),
        "window" => expected == actual,
        _ => {
            if expected.is_boolean() || actual.is_boolean() {
                expected == actual
            } else {
                num_eq(expected, actual)
            }
        }
    }
}

/// The fields of `expected` that `actual` does not satisfy.
pub fn diff_fields(expected: &Value, actual: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let (Some(e), Some(a)) = (expected.as_object(), actual.as_object()) else { return vec!["(not an object)".into()] };
    for (field, value) in e {
        if field == "retraction" {
            let got = a.get("retraction").and_then(Value::as_bool).unwrap_or(false);
            if Some(got) != value.as_bool() {
                out.push(field.clone());
            }
            continue;
        }
        match a.get(field) {
            None => out.push(field.clone()),
            Some(av) if !field_equal(field, value, av) => out.push(field.clone()),
            _ => {}
        }
    }
    out
}

fn matching(expected: &[Value], actual: &[&Value]) -> (Vec<Option<usize>>, Vec<Option<usize>>) {
    let adj: Vec<Vec<usize>> = expected
        .iter()
        .map(|e| (0..actual.len()).filter(|&j| diff_fields(e, actual[j]).is_empty()).collect())
        .collect();
    let mut match_a: Vec<Option<usize>> = vec![None; actual.len()];
    fn augment(i: usize, adj: &[Vec<usize>], seen: &mut Vec<bool>, match_a: &mut Vec<Option<usize>>) -> bool {
        for &j in &adj[i] {
            if seen[j] {
                continue;
            }
            seen[j] = true;
            if match_a[j].is_none() || augment(match_a[j].expect("checked"), adj, seen, match_a) {
                match_a[j] = Some(i);
                return true;
            }
        }
        false
    }
    for i in 0..expected.len() {
        let mut seen = vec![false; actual.len()];
        augment(i, &adj, &mut seen, &mut match_a);
    }
    let mut match_e = vec![None; expected.len()];
    for (j, m) in match_a.iter().enumerate() {
        if let Some(i) = m {
            match_e[*i] = Some(j);
        }
    }
    (match_e, match_a)
}

fn short(v: &Value) -> String {
    v.to_string()
}

fn describe_action(i: usize, action: &Value) -> String {
    match action.as_object().and_then(|o| o.iter().next()) {
        Some((k, _)) if k == "end" => format!("action {i} (end)"),
        Some((k, v)) => format!("action {i} ({k} {})", short(v)),
        None => format!("action {i}"),
    }
}

fn window_within(inner: Option<&Value>, outer: Option<&Value>) -> bool {
    match (inner, outer) {
        (Some(Value::String(a)), Some(Value::String(b))) => a == b,
        (Some(Value::Array(i)), Some(Value::Array(o))) if i.len() == 2 && o.len() == 2 => {
            let f = |v: &Value| v.as_f64().unwrap_or(f64::NAN);
            f(&o[0]) <= f(&i[0]) && f(&i[1]) <= f(&o[1])
        }
        _ => false,
    }
}

fn same_contents(a: &Value, b: &Value) -> bool {
    if a.get("key") != b.get("key") || a.get("window") != b.get("window") {
        return false;
    }
    if a.get("values").is_some() || b.get("values").is_some() {
        return match (a.get("values"), b.get("values")) {
            (Some(x), Some(y)) => field_equal("values", x, y),
            _ => false,
        };
    }
    match (a.get("value"), b.get("value")) {
        (Some(x), Some(y)) => field_equal("value", x, y),
        _ => false,
    }
}

fn after_action(p: &Value) -> usize {
    p.get("after_action").and_then(Value::as_u64).unwrap_or(0) as usize
}

fn check_retractions(scn: &Value, panes: &[Value]) -> Option<Verdict> {
    let retracting = scn.get("accumulation").and_then(Value::as_str) == Some("retracting");
    let transcript = scn["transcript"].as_array().cloned().unwrap_or_default();
    let mut live: Vec<&Value> = Vec::new();
    let mut run: Vec<&Value> = Vec::new();
    for p in panes {
        let flag = match p.get("retraction") {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                return Some(Verdict::fail(
                    "bad_output",
                    format!("pane has a non-boolean retraction field: {}", short(p)),
                ))
            }
        };
        let where_ = describe_action(after_action(p), &transcript[after_action(p)]);
        if !retracting {
            if flag {
                return Some(Verdict::fail(
                    "bad_output",
                    format!(
                        "retraction pane {} (emitted after {where_}) in a scenario whose accumulation is {}",
                        short(p),
                        scn.get("accumulation").map(short).unwrap_or_default()
                    ),
                ));
            }
            continue;
        }
        if flag {
            match live.iter().position(|q| same_contents(q, p)) {
                None => {
                    return Some(Verdict::fail(
                        "bad_retraction",
                        format!("retraction {} (emitted after {where_}) withdraws no earlier pane: no pane of that key and window with these contents was emitted and is still unretracted", short(p)),
                    ))
                }
                Some(i) => {
                    live.remove(i);
                }
            }
            run.push(p);
            continue;
        }
        for r in &run {
            if r.get("key") != p.get("key")
                || !window_within(r.get("window"), p.get("window"))
                || after_action(r) != after_action(p)
            {
                return Some(Verdict::fail(
                    "bad_retraction",
                    format!("retraction {} is not immediately followed by the pane that replaces it (same key, a window equal to or containing its window, same after_action); the next pane is {} (emitted after {where_})", short(r), short(p)),
                ));
            }
        }
        if let Some(stale) =
            live.iter().find(|q| q.get("key") == p.get("key") && window_within(q.get("window"), p.get("window")))
        {
            let rel = if stale.get("window") == p.get("window") { "equals" } else { "lies inside" };
            return Some(Verdict::fail(
                "bad_retraction",
                format!("pane {} (emitted after {where_}) is not preceded by the retraction of the earlier pane {}, whose window {rel} its window", short(p), short(stale)),
            ));
        }
        live.push(p);
        run.clear();
    }
    if let Some(r) = run.first() {
        return Some(Verdict::fail(
            "bad_retraction",
            format!(
                "retraction {} (emitted after {}) is not followed by the pane that replaces it",
                short(r),
                describe_action(after_action(r), &transcript[after_action(r)])
            ),
        ));
    }
    None
}

fn compare(scn: &Value, panes: &[Value]) -> Verdict {
    const KINDS: [&str; 5] = ["input", "watermark", "processing_time", "expect", "end"];
    let Some(transcript) = scn.get("transcript").and_then(Value::as_array) else {
        return Verdict::fail("bad_scenario", "no transcript".into());
    };
    let mut kinds = Vec::new();
    for a in transcript {
        match a.as_object().filter(|o| o.len() == 1).and_then(|o| o.keys().next()) {
            Some(k) if KINDS.contains(&k.as_str()) => kinds.push(k.clone()),
            _ => return Verdict::fail("bad_scenario", format!("malformed transcript action {}", short(a))),
        }
    }
    for p in panes {
        let i = after_action(p);
        if i >= transcript.len() {
            return Verdict::fail("bad_output", format!("pane after_action {i} is out of range: {}", short(p)));
        }
        if kinds[i] == "expect" {
            return Verdict::fail("bad_output", format!("pane attributed to an expect action ({i}): {}", short(p)));
        }
    }
    let mut prev: i64 = -1;
    for (j, a) in transcript.iter().enumerate() {
        if kinds[j] != "expect" {
            continue;
        }
        let expected: Vec<Value> = a["expect"].as_array().cloned().unwrap_or_default();
        let actual: Vec<&Value> =
            panes.iter().filter(|p| prev < after_action(p) as i64 && after_action(p) < j).collect();
        let block = format!("the expect at action {j} (covering actions {}..{})", prev + 1, j as i64 - 1);
        let (match_e, match_a) = matching(&expected, &actual);
        if let Some(missing) = match_e.iter().position(Option::is_none) {
            let e = &expected[missing];
            let mut msg = format!("{block}: expected pane {} was not emitted", short(e));
            let free: Vec<&Value> = {
                let f: Vec<&Value> =
                    actual.iter().enumerate().filter(|(k, _)| match_a[*k].is_none()).map(|(_, a)| *a).collect();
                if f.is_empty() {
                    actual.clone()
                } else {
                    f
                }
            };
            if actual.iter().any(|a| diff_fields(e, a).is_empty()) {
                msg += &format!("; the emitted panes that match it are already matched by other expectations ({} expected in this span, {} emitted)", expected.len(), actual.len());
            } else if let Some(best) = free.iter().min_by_key(|c| diff_fields(e, c).len()) {
                let bad = diff_fields(e, best);
                let parts: Vec<String> = bad
                    .iter()
                    .map(|f| {
                        format!(
                            "{f} (expected {}, got {})",
                            short(&e[f.as_str()]),
                            best.get(f.as_str()).map(short).unwrap_or_else(|| "\"<missing>\"".into())
                        )
                    })
                    .collect();
                msg += &format!("; closest emitted pane {} differs in {}", short(best), parts.join(", "));
            } else {
                msg += "; nothing was emitted in that span";
            }
            return Verdict::fail("unmatched_output", msg);
        }
        if let Some(extra) = match_a.iter().position(Option::is_none) {
            let p = actual[extra];
            return Verdict::fail(
                "unexpected_output",
                format!(
                    "{block}: unexpected pane {} (emitted after {})",
                    short(p),
                    describe_action(after_action(p), &transcript[after_action(p)])
                ),
            );
        }
        prev = j as i64;
    }
    if let Some(p) = panes.iter().find(|p| after_action(p) as i64 > prev) {
        return Verdict::fail(
            "unexpected_output",
            format!(
                "unexpected pane {} emitted after {}, which no expect covers (the transcript ends with an implicit 'nothing more')",
                short(p),
                describe_action(after_action(p), &transcript[after_action(p)])
            ),
        );
    }
    if let Some(bad) = check_retractions(scn, panes) {
        return bad;
    }
    Verdict::pass("")
}

/// Checks a runner's output lines against a scenario (compare.py's `outcome`), including
/// the deliberately wrong transcripts (field `error`).
pub fn outcome(scn: &Value, lines: &[String]) -> Verdict {
    let mut panes = Vec::new();
    for (n, line) in lines.iter().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let obj: Value = match serde_json::from_str(line) {
            Ok(v) => v,
            Err(_) => return Verdict::fail("bad_output", format!("output line {} is not JSON: {:.80}", n + 1, line)),
        };
        if !obj.is_object() {
            return Verdict::fail("bad_output", format!("output line {} is not a JSON object", n + 1));
        }
        if let Some(u) = obj.get("unsupported") {
            let reason = u.as_str().map(str::to_string).unwrap_or_else(|| u.to_string());
            return Verdict { passed: false, kind: Some("unsupported".into()), message: reason };
        }
        if obj.get("after_action").and_then(Value::as_u64).is_none() {
            return Verdict::fail("bad_output", format!("output line {} has no integer after_action", n + 1));
        }
        panes.push(obj);
    }
    let res = compare(scn, &panes);
    match scn.get("error").and_then(Value::as_str) {
        Some(wanted) => {
            if res.passed {
                Verdict::fail(
                    "wrong_pass",
                    format!("this transcript is deliberately wrong ({wanted}) but the output matched it"),
                )
            } else if res.kind.as_deref() == Some(wanted) {
                Verdict::pass(&format!("deliberately wrong transcript rejected as {wanted}"))
            } else {
                Verdict::fail(
                    "wrong_kind",
                    format!("deliberately wrong transcript ({wanted}) rejected for another reason: {}", res.message),
                )
            }
        }
        None => res,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn scn(expect: Value) -> Value {
        json!({"accumulation": "accumulating", "transcript": [{"input": [1]}, {"watermark": 10}, {"expect": expect}]})
    }

    #[test]
    fn matches_as_a_multiset_with_dont_care_fields() {
        let s = scn(json!([{"window": [0, 10], "values": [2, 1]}]));
        let out =
            vec![json!({"after_action": 1, "window": [0, 10], "values": [1, 2], "timing": "on_time"}).to_string()];
        assert!(outcome(&s, &out).passed);
    }

    #[test]
    fn reports_missing_and_unexpected_panes() {
        let s = scn(json!([{"window": [0, 10]}]));
        assert_eq!(outcome(&s, &[]).kind.as_deref(), Some("unmatched_output"));
        let s = scn(json!([]));
        let out = vec![json!({"after_action": 1, "window": [0, 10]}).to_string()];
        assert_eq!(outcome(&s, &out).kind.as_deref(), Some("unexpected_output"));
    }

    #[test]
    fn checks_retraction_order() {
        let s = json!({"accumulation": "retracting", "transcript": [{"input": [1]}, {"input": [2]}, {"expect": [
            {"window": [0, 10], "values": [1]}, {"window": [0, 10], "values": [1], "retraction": true}, {"window": [0, 10], "values": [1, 2]}]}]});
        let p1 = json!({"after_action": 0, "key": "k", "window": [0, 10], "values": [1], "retraction": false});
        let r1 = json!({"after_action": 1, "key": "k", "window": [0, 10], "values": [1], "retraction": true});
        let p2 = json!({"after_action": 1, "key": "k", "window": [0, 10], "values": [1, 2], "retraction": false});
        let good: Vec<String> = [&p1, &r1, &p2].iter().map(|v| v.to_string()).collect();
        assert!(outcome(&s, &good).passed, "{:?}", outcome(&s, &good));
        let bad: Vec<String> = [&p1, &p2, &r1].iter().map(|v| v.to_string()).collect();
        assert_eq!(outcome(&s, &bad).kind.as_deref(), Some("bad_retraction"));
    }
}
