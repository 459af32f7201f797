//! What a test run produced — its panes and dead letters, each tagged with the action after
//! which it came — and the assertions on them, whose failure messages print the whole run.

use crate::dead_letter::{DeadLetter, DeadLetterKind};
use highwater_operators::pane::{Pane, Timing};
use highwater_operators::window::Window;
use std::fmt::{self, Debug};

/// The panes and dead letters of one run of a [`super::TestStream`], in a deterministic
/// order: by the action after which each came, then window, key and pane index.
///
/// Each pane's [`Pane::tick`] is the index of the action after which it was emitted
/// ([`TestResult::actions`]; `actions().len()` is the end of the stream, when the
/// watermark goes to +∞). Printed (`{}`), a result lists the script, the panes and the dead
/// letters; every failed assertion prints it.
///
/// ```
/// use std::time::Duration;
/// use highwater::pipeline::Windowing;
/// use highwater::testing::{self, TestStream};
///
/// let stream = TestStream::new().add_elements([(1, ('a', 1)), (2, ('a', 1))]).advance_watermark_to(10);
/// let result = testing::run(stream, |p, input| {
///     p.read_keyed("input", input)?.window(Windowing::fixed(Duration::from_millis(10))).count("count")
/// })
/// .unwrap();
/// let pane = result.panes().single();
/// assert_eq!((pane.key, pane.value, pane.tick), ('a', 2, 1)); // fired by action 1
/// assert!(result.to_string().contains("after action 1 (watermark to 10)"));
/// ```
#[derive(Clone, Debug)]
pub struct TestResult<K, V> {
    pub(crate) actions: Vec<String>,
    pub(crate) panes: Vec<Pane<K, V>>,
    pub(crate) dead_letters: Vec<(usize, DeadLetter)>,
    pub(crate) warnings: Vec<String>,
    pub(crate) workers: usize,
}

impl<K, V> TestResult<K, V> {
    /// Every pane, as a [`Panes`] selection to narrow down and assert on.
    ///
    /// ```
    /// use std::time::Duration;
    /// # use highwater::pipeline::Windowing;
    /// # use highwater::testing::{self, TestStream};
    /// let stream = TestStream::new().add_elements([(1, ('a', ())), (12, ('b', ()))]);
    /// let result = testing::run(stream, |p, input| {
    ///     p.read_keyed("input", input)?.window(Windowing::fixed(Duration::from_millis(10))).count("count")
    /// })
    /// .unwrap();
    /// assert_eq!(result.panes().len(), 2);
    /// assert_eq!(result.panes().values(), vec![1, 1]);
    /// ```
    pub fn panes(&self) -> Panes<'_, K, V> {
        Panes { result: self, selected: self.panes.iter().collect(), filters: Vec::new() }
    }
    /// The panes of `window` (every key).
    ///
    /// ```
    /// use std::time::Duration;
    /// # use highwater::pipeline::Windowing;
    /// # use highwater::testing::{self, TestStream};
    /// use highwater::model::window::Window;
    /// let stream = TestStream::new().add_elements([(1, ('a', ())), (12, ('b', ()))]);
    /// let result = testing::run(stream, |p, input| {
    ///     p.read_keyed("input", input)?.window(Windowing::fixed(Duration::from_millis(10))).count("count")
    /// })
    /// .unwrap();
    /// assert_eq!(result.panes_in(Window::new(10, 20)).single().key, 'b');
    /// ```
    pub fn panes_in(&self, window: Window) -> Panes<'_, K, V> {
        self.panes().in_window(window)
    }
    /// The panes of `key` (every window).
    ///
    /// ```
    /// use std::time::Duration;
    /// # use highwater::pipeline::Windowing;
    /// # use highwater::testing::{self, TestStream};
    /// let stream = TestStream::new().add_elements([(1, ('a', ())), (12, ('a', ())), (3, ('b', ()))]);
    /// let result = testing::run(stream, |p, input| {
    ///     p.read_keyed("input", input)?.window(Windowing::fixed(Duration::from_millis(10))).count("count")
    /// })
    /// .unwrap();
    /// assert_eq!(result.panes_of(&'a').len(), 2);
    /// ```
    pub fn panes_of(&self, key: &K) -> Panes<'_, K, V>
    where
        K: PartialEq + Debug,
    {
        self.panes().of_key(key)
    }
    /// Every dead letter, as a [`DeadLetters`] selection.
    ///
    /// ```
    /// use std::time::Duration;
    /// # use highwater::pipeline::Windowing;
    /// # use highwater::testing::{self, TestStream};
    /// let stream = TestStream::new().add_element(1, ('a', ())).advance_watermark_to(20).add_element(2, ('a', ()));
    /// let result = testing::run(stream, |p, input| {
    ///     p.read_keyed("input", input)?.window(Windowing::fixed(Duration::from_millis(10))).count("count")
    /// })
    /// .unwrap();
    /// assert_eq!(result.dead_letters().len(), 1);
    /// ```
    pub fn dead_letters(&self) -> DeadLetters<'_, K, V> {
        DeadLetters { result: self, selected: self.dead_letters.iter().collect(), filters: Vec::new() }
    }
    /// The dead letters of one kind (too late, window closed, ...).
    ///
    /// ```
    /// use std::time::Duration;
    /// # use highwater::pipeline::Windowing;
    /// # use highwater::testing::{self, TestStream};
    /// use highwater::pipeline::DeadLetterKind;
    /// let stream = TestStream::new().add_element(1, ('a', ())).advance_watermark_to(20).add_element(2, ('a', ()));
    /// let result = testing::run(stream, |p, input| {
    ///     p.read_keyed("input", input)?.window(Windowing::fixed(Duration::from_millis(10))).count("count")
    /// })
    /// .unwrap();
    /// let late = result.dead_letters_of(DeadLetterKind::TooLate).single();
    /// assert_eq!(late.step, "count");
    /// assert_eq!(late.record, "null"); // the element's value, as JSON
    /// ```
    pub fn dead_letters_of(&self, kind: DeadLetterKind) -> DeadLetters<'_, K, V> {
        self.dead_letters().of_kind(kind)
    }
    /// The script, one line per action (the index of a line is the `after_action` of what
    /// it produced).
    ///
    /// ```
    /// use std::time::Duration;
    /// # use highwater::pipeline::Windowing;
    /// # use highwater::testing::{self, TestStream};
    /// let stream = TestStream::new().add_element(1, ('a', ())).advance_watermark_to(20);
    /// let result = testing::run(stream, |p, input| {
    ///     p.read_keyed("input", input)?.window(Windowing::fixed(Duration::from_millis(10))).count("count")
    /// })
    /// .unwrap();
    /// assert_eq!(result.actions(), &["elements ('a', ()) at 1", "watermark to 20"]);
    /// ```
    pub fn actions(&self) -> &[String] {
        &self.actions
    }
    /// Actions the harness released before it could see the previous one pass every step
    /// (a step parked behind a window hold at the current watermark that did not move;
    /// see the module docs). Empty in a run whose tags are exact.
    ///
    /// ```
    /// use std::time::Duration;
    /// # use highwater::pipeline::Windowing;
    /// # use highwater::testing::{self, TestStream};
    /// let stream = TestStream::new().add_element(1, ('a', ()));
    /// let result = testing::run(stream, |p, input| {
    ///     p.read_keyed("input", input)?.window(Windowing::fixed(Duration::from_millis(10))).count("count")
    /// })
    /// .unwrap();
    /// assert!(result.warnings().is_empty());
    /// ```
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }
    /// The number of workers the run used.
    ///
    /// ```
    /// # use highwater::pipeline::Windowing;
    /// # use highwater::testing::{Harness, TestStream};
    /// let result = Harness::new(TestStream::new().add_element(1, ('a', ())))
    ///     .workers(2)
    ///     .run(|p, input| p.read_keyed("input", input)?.window(Windowing::global()).count("count"))
    ///     .unwrap();
    /// assert_eq!(result.workers(), 2);
    /// ```
    pub fn workers(&self) -> usize {
        self.workers
    }
    /// Whether two runs gave the same panes and dead letters, tags included (a run at 1
    /// worker and one at 4 must).
    ///
    /// ```
    /// # use highwater::pipeline::Windowing;
    /// # use highwater::testing::{Harness, TestStream};
    /// let h = Harness::new(TestStream::new().add_elements([(1, ('a', ())), (2, ('b', ()))]));
    /// let one = h.clone()
    ///     .run(|p, input| p.read_keyed("input", input)?.window(Windowing::global()).count("count"))
    ///     .unwrap();
    /// let two = h.workers(2)
    ///     .run(|p, input| p.read_keyed("input", input)?.window(Windowing::global()).count("count"))
    ///     .unwrap();
    /// assert!(one.same_answer(&two));
    /// ```
    pub fn same_answer(&self, other: &TestResult<K, V>) -> bool
    where
        K: PartialEq,
        V: PartialEq,
    {
        self.panes == other.panes && self.dead_letters == other.dead_letters
    }

    /// "after action 3 (watermark to 10)", or "at the end of the stream".
    fn after(&self, action: usize) -> String {
        match self.actions.get(action) {
            Some(a) => format!("after action {action} ({a})"),
            None => "at the end of the stream".into(),
        }
    }
}

impl<K: Debug, V: Debug> fmt::Display for TestResult<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "the script ({} workers):", self.workers)?;
        for (i, a) in self.actions.iter().enumerate() {
            writeln!(f, "  {i}: {a}")?;
        }
        writeln!(f, "  {}: end of the stream (watermark to +∞)", self.actions.len())?;
        writeln!(f, "{} panes:", self.panes.len())?;
        let mut last = None;
        for p in &self.panes {
            let a = p.tick as usize;
            if last != Some(a) {
                writeln!(f, "  {}:", self.after(a))?;
                last = Some(a);
            }
            writeln!(f, "    {}", describe_pane(p))?;
        }
        writeln!(f, "{} dead letters:", self.dead_letters.len())?;
        for (a, d) in &self.dead_letters {
            writeln!(f, "  {}: {} at step `{}`: {}, record {}", self.after(*a), d.kind, d.step, d.location, d.record)?;
        }
        for w in &self.warnings {
            writeln!(f, "warning: {w}")?;
        }
        Ok(())
    }
}

/// One pane on one line: key, window, timing, index, first/last, value, timestamp.
fn describe_pane<K: Debug, V: Debug>(p: &Pane<K, V>) -> String {
    let mut flags = Vec::new();
    if p.info.first {
        flags.push("first");
    }
    if p.info.last {
        flags.push("last");
    }
    let flags = if flags.is_empty() { String::new() } else { format!(" ({})", flags.join(", ")) };
    format!(
        "{}key {:?}, window {}, {} pane {}{flags}: {:?} (timestamp {})",
        if p.retraction { "retraction of " } else { "" },
        p.key,
        p.window,
        p.info.timing,
        p.info.index,
        p.value,
        p.timestamp
    )
}

/// A selection of a run's panes, narrowed by chained filters, with assertions whose
/// failure messages say what was selected and print the whole run.
///
/// ```
/// use std::time::Duration;
/// # use highwater::pipeline::Windowing;
/// # use highwater::testing::{self, TestStream};
/// use highwater::model::window::Window;
/// let stream = TestStream::new().add_elements([(1, ('a', ())), (2, ('a', ())), (3, ('b', ()))]);
/// let result = testing::run(stream, |p, input| {
///     p.read_keyed("input", input)?.window(Windowing::fixed(Duration::from_millis(10))).count("count")
/// })
/// .unwrap();
/// result.panes_in(Window::new(0, 10)).of_key(&'a').on_time().assert_values([2]);
/// result.panes().early().assert_empty();
/// ```
pub struct Panes<'r, K, V> {
    result: &'r TestResult<K, V>,
    selected: Vec<&'r Pane<K, V>>,
    filters: Vec<String>,
}

impl<'r, K, V> Panes<'r, K, V> {
    fn keep(mut self, what: String, f: impl Fn(&Pane<K, V>) -> bool) -> Self {
        self.selected.retain(|p| f(p));
        self.filters.push(what);
        self
    }
    /// Only the panes of `window`.
    pub fn in_window(self, window: Window) -> Self {
        self.keep(format!("window {window}"), move |p| p.window == window)
    }
    /// Only the panes of `key`.
    pub fn of_key(self, key: &K) -> Self
    where
        K: PartialEq + Debug,
    {
        self.keep(format!("key {key:?}"), |p| &p.key == key)
    }
    /// Only the panes emitted after action `action` (its index in the script; the
    /// script's length for the end of the stream).
    pub fn after_action(self, action: usize) -> Self {
        self.keep(format!("after action {action}"), move |p| p.tick as usize == action)
    }
    /// Only the panes of one timing.
    pub fn with_timing(self, timing: Timing) -> Self {
        self.keep(format!("{timing}"), move |p| p.info.timing == timing)
    }
    /// Only the early panes (fired before the watermark passed the window).
    pub fn early(self) -> Self {
        self.with_timing(Timing::Early)
    }
    /// Only the on-time panes (fired as the watermark passed the window).
    pub fn on_time(self) -> Self {
        self.with_timing(Timing::OnTime)
    }
    /// Only the late panes (fired after the on-time pane, for late elements).
    pub fn late(self) -> Self {
        self.with_timing(Timing::Late)
    }
    /// How many panes are selected.
    pub fn len(&self) -> usize {
        self.selected.len()
    }
    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.selected.is_empty()
    }
    /// The selected panes, in the result's order.
    pub fn iter(&self) -> impl Iterator<Item = &'r Pane<K, V>> + '_ {
        self.selected.iter().copied()
    }
    /// The selected panes' values, in order.
    pub fn values(&self) -> Vec<V>
    where
        V: Clone,
    {
        self.selected.iter().map(|p| p.value.clone()).collect()
    }
    /// The actions after which the selected panes came, in order.
    pub fn actions(&self) -> Vec<usize> {
        self.selected.iter().map(|p| p.tick as usize).collect()
    }
    fn what(&self) -> String {
        if self.filters.is_empty() {
            "all panes".into()
        } else {
            format!("the panes of {}", self.filters.join(", "))
        }
    }
}

impl<'r, K: Debug, V: Debug> Panes<'r, K, V> {
    fn fail(&self, expected: &str) -> ! {
        let found: Vec<String> = self.selected.iter().map(|p| describe_pane(p)).collect();
        panic!(
            "expected {expected} among {}, found {}:\n  {}\n\n{}",
            self.what(),
            found.len(),
            if found.is_empty() { "(none)".to_string() } else { found.join("\n  ") },
            self.result
        )
    }
    /// The one selected pane; panics (printing the run) unless exactly one is selected.
    pub fn single(&self) -> &'r Pane<K, V> {
        match self.selected.as_slice() {
            [p] => p,
            _ => self.fail("exactly one pane"),
        }
    }
    /// Panics (printing the run) unless exactly `n` panes are selected.
    pub fn assert_count(&self, n: usize) {
        if self.selected.len() != n {
            self.fail(&format!("{n} panes"))
        }
    }
    /// Panics (printing the run) unless no pane is selected.
    pub fn assert_empty(&self) {
        self.assert_count(0)
    }
    /// Panics (printing the run) unless the selected panes' values are `expected`, in order.
    pub fn assert_values(&self, expected: impl IntoIterator<Item = V>)
    where
        V: PartialEq,
    {
        let expected: Vec<V> = expected.into_iter().collect();
        let same =
            expected.len() == self.selected.len() && expected.iter().zip(&self.selected).all(|(e, p)| *e == p.value);
        if !same {
            self.fail(&format!("values {expected:?}"))
        }
    }
    /// Panics (printing the run) unless the selected panes came after `expected` actions,
    /// in order (e.g. `[1, 3]`: the first after action 1, the second after action 3).
    pub fn assert_actions(&self, expected: impl IntoIterator<Item = usize>) {
        let expected: Vec<usize> = expected.into_iter().collect();
        if self.actions() != expected {
            self.fail(&format!("panes after actions {expected:?}"))
        }
    }
}

/// A selection of a run's dead letters, narrowed by chained filters, with assertions whose
/// failure messages print the whole run.
///
/// ```
/// use std::time::Duration;
/// # use highwater::pipeline::Windowing;
/// # use highwater::testing::{self, TestStream};
/// use highwater::pipeline::DeadLetterKind;
/// let stream = TestStream::new().advance_watermark_to(20).add_element(2, ('a', 7u32));
/// let result = testing::run(stream, |p, input| {
///     p.read_keyed("input", input)?.window(Windowing::fixed(Duration::from_millis(10))).count("count")
/// })
/// .unwrap();
/// let late = result.dead_letters().of_kind(DeadLetterKind::TooLate).after_action(1);
/// assert_eq!(late.records(), vec!["7"]);
/// ```
pub struct DeadLetters<'r, K, V> {
    result: &'r TestResult<K, V>,
    selected: Vec<&'r (usize, DeadLetter)>,
    filters: Vec<String>,
}

impl<'r, K, V> DeadLetters<'r, K, V> {
    fn keep(mut self, what: String, f: impl Fn(usize, &DeadLetter) -> bool) -> Self {
        self.selected.retain(|(a, d)| f(*a, d));
        self.filters.push(what);
        self
    }
    /// Only the dead letters of one kind.
    pub fn of_kind(self, kind: DeadLetterKind) -> Self {
        self.keep(format!("kind {kind}"), move |_, d| d.kind == kind)
    }
    /// Only those dropped by step `step` (a source or aggregation name).
    pub fn in_step(self, step: &str) -> Self {
        self.keep(format!("step `{step}`"), |_, d| d.step == step)
    }
    /// Only those dropped after action `action`.
    pub fn after_action(self, action: usize) -> Self {
        self.keep(format!("after action {action}"), move |a, _| a == action)
    }
    /// How many are selected.
    pub fn len(&self) -> usize {
        self.selected.len()
    }
    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.selected.is_empty()
    }
    /// The selected dead letters, in the result's order.
    pub fn iter(&self) -> impl Iterator<Item = &'r DeadLetter> + '_ {
        self.selected.iter().map(|(_, d)| d)
    }
    /// The selected dead letters' records (an element's value as JSON), in order.
    pub fn records(&self) -> Vec<&'r str> {
        self.selected.iter().map(|(_, d)| d.record.as_str()).collect()
    }
    /// The actions after which the selected dead letters were dropped, in order.
    pub fn actions(&self) -> Vec<usize> {
        self.selected.iter().map(|(a, _)| *a).collect()
    }
}

impl<'r, K: Debug, V: Debug> DeadLetters<'r, K, V> {
    fn fail(&self, expected: &str) -> ! {
        let what = if self.filters.is_empty() {
            "all dead letters".into()
        } else {
            format!("the dead letters of {}", self.filters.join(", "))
        };
        panic!("expected {expected} among {what}, found {}\n\n{}", self.selected.len(), self.result)
    }
    /// The one selected dead letter; panics (printing the run) unless exactly one is.
    pub fn single(&self) -> &'r DeadLetter {
        match self.selected.as_slice() {
            [(_, d)] => d,
            _ => self.fail("exactly one dead letter"),
        }
    }
    /// Panics (printing the run) unless exactly `n` dead letters are selected.
    pub fn assert_count(&self, n: usize) {
        if self.selected.len() != n {
            self.fail(&format!("{n} dead letters"))
        }
    }
    /// Panics (printing the run) unless none is selected.
    pub fn assert_empty(&self) {
        self.assert_count(0)
    }
}
