//! The planner: which windowed operator runs a strategy. Decided in this one place, so
//! that pipelines ([`super::windowed_aggregate_precombined`]) and the conformance runner
//! run the same operators for the same strategy.

use super::output_watermark::OutputWatermark;
use crate::strategy::{ClosingBehavior, TimestampCombiner, WindowingStrategy};
use crate::trigger::Trigger;
use crate::window::WindowSpec;

/// The operators a keyed windowed aggregation can run on, cheapest first. Every plan emits
/// the panes and dead letters the general reducer ([`Plan::Reducer`]) would;
/// `operators/tests/on_time.rs` checks it on random streams.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Plan {
    /// Non-merging windows with one on-time pane per key and window — and, with allowed
    /// lateness and a trigger that fires for every late bundle, one late pane per late
    /// stamp: each worker combines its records per (key, window) until its own input
    /// watermark passes the window and exchanges one accumulator per key and window (late
    /// records: one per key, window and batch); the key's worker merges them and emits the
    /// on-time pane once the frontier passes the window, then the late panes stamp by
    /// stamp until garbage collection. No reducer.
    OnTimeWindows,
    /// The built-in session windows with exactly one on-time pane per merged session: a
    /// dedicated operator merges sessions per key, applied stamp by stamp. No reducer.
    OnTimeSessions,
    /// Beam's combiner lifting ([`WindowingStrategy::can_precombine`]): each worker
    /// combines its records per (key, window) and stamp and drops the too-late ones, then
    /// the reducer applies the accumulators.
    Precombined,
    /// The reducer on every record: any strategy.
    Reducer,
}

/// The cheapest [`Plan`] that emits the same panes as the reducer for `strategy` with
/// `output_watermark`.
///
/// The on-time plans need the default trigger or `after_watermark()` without early
/// firings, no allowed lateness (so the one pane is the on-time pane: late firings never
/// see a record, a late record is dropped) and end-of-window timestamps. The closing and
/// on-time behaviors ([`ClosingBehavior`](crate::strategy::ClosingBehavior),
/// [`OnTimeBehavior`](crate::strategy::OnTimeBehavior)) do not rule them out: they decide
/// only whether an *empty* pane is emitted, and under these conditions a window's one pane
/// is never empty (every record the window keeps arrives before its end, and nothing fires
/// before the end), nor is any pane followed by another. They keep no holds
/// per key, so an [`OutputWatermark::Shared`] board (the conformance runner's lockstep
/// output watermark) rules them out.
///
/// With allowed lateness, non-merging windows keep [`Plan::OnTimeWindows`] when the trigger
/// fires once per late bundle (the default trigger, `after_watermark(late=after_count(1))`),
/// timestamps are at the end of the window, the closing behavior is
/// [`ClosingBehavior::FireIfNonEmpty`] and the output watermark is
/// [`OutputWatermark::PerKey`] (the pipelines'): the operator then keeps each fired
/// (key, window) until garbage collection for its late panes.
///
/// ```
/// use highwater::model::operator::{plan, OutputWatermark, Plan, WatermarkBoard};
/// use highwater::model::strategy::WindowingStrategy;
/// use highwater::model::trigger::Trigger;
/// use highwater::model::window::WindowSpec;
///
/// let fixed = WindowingStrategy::new(WindowSpec::fixed(10)).build().unwrap();
/// assert_eq!(plan(&fixed, &OutputWatermark::PerKey), Plan::OnTimeWindows);
/// let sessions = WindowingStrategy::new(WindowSpec::sessions(10)).build().unwrap();
/// assert_eq!(plan(&sessions, &OutputWatermark::PerKey), Plan::OnTimeSessions);
/// let early = WindowingStrategy::new(WindowSpec::fixed(10))
///     .trigger("after_watermark(early=after_count(1), late=after_count(1))".parse::<Trigger>().unwrap())
///     .build()
///     .unwrap();
/// assert_eq!(plan(&early, &OutputWatermark::PerKey), Plan::Precombined);
/// let late = WindowingStrategy::new(WindowSpec::fixed(10)).allowed_lateness(5).build().unwrap();
/// assert_eq!(plan(&late, &OutputWatermark::PerKey), Plan::OnTimeWindows);
/// // The conformance runner's shared board keeps the reducer's holds.
/// let board = OutputWatermark::Shared(WatermarkBoard::new(2));
/// assert_eq!(plan(&sessions, &board), Plan::Reducer);
/// ```
pub fn plan(strategy: &WindowingStrategy, output_watermark: &OutputWatermark) -> Plan {
    let shared = matches!(output_watermark, OutputWatermark::Shared(_));
    if !shared && one_on_time_pane(strategy) {
        if !strategy.window_fn.is_merging() {
            return Plan::OnTimeWindows;
        }
        if matches!(strategy.window, WindowSpec::Sessions { .. }) {
            return Plan::OnTimeSessions;
        }
    }
    if matches!(output_watermark, OutputWatermark::PerKey)
        && !strategy.window_fn.is_merging()
        && on_time_then_late_panes(strategy)
    {
        return Plan::OnTimeWindows;
    }
    if strategy.can_precombine() {
        Plan::Precombined
    } else {
        Plan::Reducer
    }
}

/// The default trigger, or `after_watermark()` with any late firings but no early ones,
/// no allowed lateness and end-of-window timestamps: one on-time pane per key and window.
fn one_on_time_pane(strategy: &WindowingStrategy) -> bool {
    matches!(strategy.trigger, Trigger::Default | Trigger::AfterWatermark { early: None, .. })
        && strategy.allowed_lateness == 0
        && strategy.timestamp_combiner == TimestampCombiner::EndOfWindow
}

/// Allowed lateness with a trigger that fires the on-time pane and then once for every
/// late bundle — the default trigger, or `after_watermark(late=after_count(1))` — with
/// end-of-window timestamps and [`ClosingBehavior::FireIfNonEmpty`]: an on-time pane
/// (never empty, never last), then one late pane per (key, window) and late stamp, and
/// nothing at garbage collection (every late record fired its own pane). Any accumulation
/// mode. The on-time pane fires at the watermark just past the window's end only with the
/// per-key output watermark ([`OutputWatermark::PerKey`]): the others fire every timer
/// due at once, and a leap past the end and the garbage-collection time gives one pane.
fn on_time_then_late_panes(strategy: &WindowingStrategy) -> bool {
    let late_every_bundle = match &strategy.trigger {
        Trigger::Default => true,
        Trigger::AfterWatermark { early: None, late: Some(late) } => matches!(**late, Trigger::AfterCount(1)),
        _ => false,
    };
    late_every_bundle
        && strategy.timestamp_combiner == TimestampCombiner::EndOfWindow
        && strategy.closing_behavior == ClosingBehavior::FireIfNonEmpty
}

#[cfg(test)]
mod tests {
    use super::super::output_watermark::WatermarkBoard;
    use super::*;
    use crate::strategy::Accumulation;

    fn strategy(window: WindowSpec, trigger: &str, lateness: i64) -> WindowingStrategy {
        WindowingStrategy::new(window)
            .trigger(trigger.parse::<Trigger>().unwrap())
            .allowed_lateness(lateness)
            .build()
            .unwrap()
    }

    #[test]
    fn one_on_time_pane_takes_the_on_time_operators_unless_the_board_is_shared() {
        let shared = OutputWatermark::Shared(WatermarkBoard::new(1));
        for (window, on_time) in [
            (WindowSpec::fixed(10), Plan::OnTimeWindows),
            (WindowSpec::sliding(10, 5), Plan::OnTimeWindows),
            (WindowSpec::Global, Plan::OnTimeWindows),
            (WindowSpec::sessions(10), Plan::OnTimeSessions),
        ] {
            for trigger in ["default", "after_watermark()", "after_watermark(late=after_count(1))"] {
                let s = strategy(window.clone(), trigger, 0);
                assert_eq!(plan(&s, &OutputWatermark::PerKey), on_time, "{window:?} {trigger}");
                assert_eq!(plan(&s, &OutputWatermark::Local), on_time, "{window:?} {trigger}");
                let fallback = if s.can_precombine() { Plan::Precombined } else { Plan::Reducer };
                assert_eq!(plan(&s, &shared), fallback, "{window:?} {trigger}");
            }
        }
    }

    /// Whether empty panes are emitted cannot matter when a window's one pane always has
    /// records: the behaviors leave the plan alone (`operators/tests/on_time.rs` compares the
    /// panes), and the reducer plans run them.
    #[test]
    fn closing_and_on_time_behaviors_keep_the_plan() {
        use crate::strategy::{ClosingBehavior, OnTimeBehavior};
        for (window, lateness, expected) in [
            (WindowSpec::fixed(10), 0, Plan::OnTimeWindows),
            (WindowSpec::sessions(10), 0, Plan::OnTimeSessions),
            (WindowSpec::fixed(10), 5, Plan::OnTimeWindows),
            (WindowSpec::sessions(10), 5, Plan::Reducer),
        ] {
            for c in [ClosingBehavior::FireIfNonEmpty, ClosingBehavior::FireAlways] {
                // With lateness, FIRE_ALWAYS emits an empty last pane at garbage collection
                // (and holds the output for it): the reducer's.
                let expected = if lateness > 0 && c == ClosingBehavior::FireAlways && expected == Plan::OnTimeWindows {
                    Plan::Precombined
                } else {
                    expected
                };
                for o in [OnTimeBehavior::FireAlways, OnTimeBehavior::FireIfNonEmpty] {
                    let s = WindowingStrategy::new(window.clone())
                        .allowed_lateness(lateness)
                        .closing_behavior(c)
                        .on_time_behavior(o)
                        .build()
                        .unwrap();
                    assert_eq!(plan(&s, &OutputWatermark::PerKey), expected, "{window:?} {lateness} {c} {o}");
                }
            }
        }
    }

    #[test]
    fn lateness_with_a_pane_per_late_bundle_keeps_the_on_time_operators_at_the_per_key_watermark() {
        let per_key = OutputWatermark::PerKey;
        for trigger in ["default", "after_watermark(late=after_count(1))"] {
            assert_eq!(plan(&strategy(WindowSpec::fixed(10), trigger, 5), &per_key), Plan::OnTimeWindows);
            assert_eq!(plan(&strategy(WindowSpec::sliding(10, 5), trigger, 5), &per_key), Plan::OnTimeWindows);
            // The other output watermarks fire the end of the window and garbage collection
            // together when the watermark leaps past both.
            let local = plan(&strategy(WindowSpec::fixed(10), trigger, 5), &OutputWatermark::Local);
            assert_eq!(local, Plan::Precombined, "{trigger}");
            // Sessions merge late records into fired sessions: the reducer's.
            assert_eq!(plan(&strategy(WindowSpec::sessions(10), trigger, 5), &per_key), Plan::Reducer);
        }
        // Late firings that wait for two records, or none (the window closes at the
        // on-time pane), or a timestamp combiner other than the end of the window.
        for trigger in ["after_watermark(late=after_count(2))", "after_watermark()"] {
            assert_ne!(plan(&strategy(WindowSpec::fixed(10), trigger, 5), &per_key), Plan::OnTimeWindows, "{trigger}");
        }
        let earliest = WindowingStrategy::new(WindowSpec::fixed(10))
            .allowed_lateness(5)
            .timestamp_combiner(TimestampCombiner::Earliest)
            .build()
            .unwrap();
        assert_ne!(plan(&earliest, &per_key), Plan::OnTimeWindows);
    }

    #[test]
    fn lateness_early_firings_or_finishing_triggers_leave_the_on_time_operators() {
        let per_key = OutputWatermark::PerKey;
        let early = "after_watermark(early=after_count(1), late=after_count(1))";
        assert_eq!(plan(&strategy(WindowSpec::fixed(10), early, 0), &per_key), Plan::Precombined);
        // Without late firings the trigger finishes at the on-time pane: windows close.
        let finishing = "after_watermark(early=after_count(1))";
        assert_eq!(plan(&strategy(WindowSpec::fixed(10), finishing, 0), &per_key), Plan::Reducer);
        assert_eq!(plan(&strategy(WindowSpec::sessions(10), early, 0), &per_key), Plan::Reducer);
        assert_eq!(plan(&strategy(WindowSpec::fixed(10), "after_count(2)", 0), &per_key), Plan::Reducer);
        let retracting = WindowingStrategy::new(WindowSpec::fixed(10))
            .trigger(early.parse::<Trigger>().unwrap())
            .accumulation(Accumulation::Retracting)
            .build()
            .unwrap();
        assert_eq!(plan(&retracting, &per_key), Plan::Precombined);
    }
}
