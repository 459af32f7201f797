#!/usr/bin/env python3
"""Writes the composite_early_late scenarios: one hand derivation per case, three modes.

Each case below lists its transcript and, after the actions that emit, the panes derived
by hand from Beam Java's runners-core trigger state machines (the notes of each case cite
the methods that decide each pane). Trigger firings do not depend on the accumulation
mode, so one derivation gives all three files: `discarding` takes each pane's new
elements, `accumulating` the window's whole contents, `retracting` the accumulating panes
each preceded by the retractions of FORMAT.md (earlier unretracted panes of a window
inside the pane's window). Run `python3 make.py` here to regenerate.
"""
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))

COMMON_NOTES = [
    "Hand-derived from Beam Java (runners-core triggers/*StateMachine.java, ReduceFnRunner.java); "
    "one derivation for the three accumulation modes (make.py). Tree indices are the pre-order "
    "indices of ExecutableTriggerStateMachine; 'bit n' is FinishedTriggersBitSet bit n.",
    "ExecutableTriggerStateMachine.invokeOnElement runs onElement without looking at the finished bit; "
    "AfterWatermarkEarlyAndLate.onNonLateFiring/onLateFiring clear the early/late sub-trigger and unset "
    "only that sub-trigger's own bit, so the bits of its children stay set.",
]

# pane: (window, new_values, all_values, timestamp, timing, index, nonspeculative_index, last)
def P(window, new, full, ts, timing, index, nsi, last):
    return dict(window=window, new=new, full=full, ts=ts, timing=timing, index=index, nsi=nsi, last=last)


CASES = []


def case(name, window, trigger, lateness, notes, steps):
    CASES.append(dict(name=name, window=window, trigger=trigger, lateness=lateness, notes=notes, steps=steps))


# ---------------------------------------------------------------- fixed windows
case(
    "early_after_first_count_fixed", "fixed(10)",
    "after_watermark(early=after_first(after_count(2), after_processing_time(5)))", 0,
    [
        "Tree: 0 AfterWatermarkEarlyAndLate, 1 AfterFirst (early), 2 AfterPane(2), 3 AfterProcessingTime(5).",
        "Action 0: AfterFirstStateMachine.shouldFire: the count is ready. onNonLateFiring (before the end): "
        "AfterFirst.onFire fires the count (bit 2 set), clears the delay; then invokeClear(early) and "
        "setFinished(false) on bit 1 only: bit 2 stays set.",
        "Action 2: AfterFirst.onElement reaches the finished count (invokeOnElement has no check); "
        "AfterFirstStateMachine.shouldFire counts the finished sub-trigger (bit 2) as ready: early pane [3].",
        "Action 4: the processing-time timer at 5 (armed at action 0, timers are never cancelled) makes "
        "ReduceFnRunner.onTimers evaluate the window: shouldFire is true (bit 2), the pane is empty and not "
        "ON_TIME, so ReduceFnRunner.onTrigger emits nothing (needToEmit).",
        "Action 6: ready again at once: early pane [4, 5].",
        "Action 8: allowed lateness 0, the end-of-window timer is the garbage-collection timer "
        "(ReduceFnRunner.onTimers isGarbageCollection): onTrigger(isFinished=true) emits the ON_TIME pane "
        "even though nothing is new (OnTimeBehavior.FIRE_ALWAYS), last.",
    ],
    [
        ({"input": [1, 2]}, [P([0, 10], [1, 2], [1, 2], 9, "early", 0, -1, False)]),
        ({"input": [3]}, [P([0, 10], [3], [1, 2, 3], 9, "early", 1, -1, False)]),
        ({"processing_time": 6}, []),
        ({"input": [4, 5]}, [P([0, 10], [4, 5], [1, 2, 3, 4, 5], 9, "early", 2, -1, False)]),
        ({"watermark": 10}, [P([0, 10], [], [1, 2, 3, 4, 5], 9, "on_time", 3, 0, True)]),
    ],
)

case(
    "early_after_first_delay_fixed", "fixed(10)",
    "after_watermark(early=after_first(after_count(3), after_processing_time(5)))", 0,
    [
        "Tree: 0 AfterWatermarkEarlyAndLate, 1 AfterFirst (early), 2 AfterPane(3), 3 AfterProcessingTime(5).",
        "Action 1: processing time 6 is after 0 + 5 (AfterDelayFromFirstElementStateMachine.shouldFire): "
        "AfterFirst.onFire fires the delay (bit 3 set) and clears the count; onNonLateFiring unsets bit 1 only.",
        "Action 2: AfterFirstStateMachine.shouldFire: bit 3 is set, so the window fires at once with [2] "
        "(the count is at 1; the delay re-armed at 6 + 5 by onElement on the finished sub-trigger).",
        "Action 3: the ON_TIME pane at garbage collection (allowed lateness 0), empty when discarding.",
    ],
    [
        ({"input": [1]}, []),
        ({"processing_time": 6}, [P([0, 10], [1], [1], 9, "early", 0, -1, False)]),
        ({"input": [2]}, [P([0, 10], [2], [1, 2], 9, "early", 1, -1, False)]),
        ({"watermark": 10}, [P([0, 10], [], [1, 2], 9, "on_time", 2, 0, True)]),
    ],
)

case(
    "early_after_all_fixed", "fixed(10)",
    "after_watermark(early=after_all(after_count(2), after_processing_time(5)))", 0,
    [
        "Tree: 0 AfterWatermarkEarlyAndLate, 1 AfterAll (early), 2 AfterPane(2), 3 AfterProcessingTime(5).",
        "Actions 0-1: AfterAllStateMachine.shouldFire needs every unfinished sub-trigger ready; the delay is not.",
        "Action 2: the delay is ready (6 > 5): AfterAll.onFire fires both (bits 2 and 3 set); onNonLateFiring "
        "clears AfterAll and unsets bit 1 only.",
        "Action 3: AfterAll.onElement runs only unfinishedSubTriggers (none); AfterAllStateMachine.shouldFire "
        "skips finished sub-triggers, so it is ready at once: early pane [3].",
        "Action 4: the ON_TIME pane at garbage collection (allowed lateness 0).",
    ],
    [
        ({"input": [1]}, []),
        ({"input": [2]}, []),
        ({"processing_time": 6}, [P([0, 10], [1, 2], [1, 2], 9, "early", 0, -1, False)]),
        ({"input": [3]}, [P([0, 10], [3], [1, 2, 3], 9, "early", 1, -1, False)]),
        ({"watermark": 10}, [P([0, 10], [], [1, 2, 3], 9, "on_time", 2, 0, True)]),
    ],
)

case(
    "early_after_all_of_after_first_fixed", "fixed(10)",
    "after_watermark(early=after_all(after_first(after_count(2), after_processing_time(5)), after_count(3)))", 0,
    [
        "Tree: 0 AfterWatermarkEarlyAndLate, 1 AfterAll (early), 2 AfterFirst, 3 AfterPane(2), "
        "4 AfterProcessingTime(5), 5 AfterPane(3).",
        "Action 0: AfterFirst is ready (count 2) but AfterPane(3) is not: AfterAll waits.",
        "Action 1: both ready: AfterAll.onFire fires AfterFirst (which fires the count, bit 3, clears the "
        "delay, sets bit 2) and AfterPane(3) (bit 5); onNonLateFiring unsets bit 1 only.",
        "Action 2: bits 2 and 5 stay set: AfterAll.onElement has no unfinished sub-trigger and "
        "AfterAllStateMachine.shouldFire is true at once: early pane [4].",
        "Action 3: the ON_TIME pane at garbage collection.",
    ],
    [
        ({"input": [1, 2]}, []),
        ({"input": [3]}, [P([0, 10], [1, 2, 3], [1, 2, 3], 9, "early", 0, -1, False)]),
        ({"input": [4]}, [P([0, 10], [4], [1, 2, 3, 4], 9, "early", 1, -1, False)]),
        ({"watermark": 10}, [P([0, 10], [], [1, 2, 3, 4], 9, "on_time", 2, 0, True)]),
    ],
)

case(
    "early_after_first_of_after_all_fixed", "fixed(10)",
    "after_watermark(early=after_first(after_all(after_count(2), after_processing_time(5)), after_count(3)))", 0,
    [
        "Tree: 0 AfterWatermarkEarlyAndLate, 1 AfterFirst (early), 2 AfterAll, 3 AfterPane(2), "
        "4 AfterProcessingTime(5), 5 AfterPane(3).",
        "Action 1: AfterPane(3) is ready: AfterFirst.onFire fires it (bit 5) and clears AfterAll (not ready: "
        "the delay is not); onNonLateFiring unsets bit 1 only.",
        "Action 2: AfterFirstStateMachine.shouldFire: bit 5 is set, ready at once: early pane [4] (the "
        "finished AfterPane(3) counts it too: invokeOnElement has no check).",
        "Action 4: the delay timer at 5 evaluates the window: ready (bit 5), empty, not ON_TIME: nothing.",
        "Action 6: early pane [5] at once.",
        "Action 8: the ON_TIME pane at garbage collection.",
    ],
    [
        ({"input": [1, 2]}, []),
        ({"input": [3]}, [P([0, 10], [1, 2, 3], [1, 2, 3], 9, "early", 0, -1, False)]),
        ({"input": [4]}, [P([0, 10], [4], [1, 2, 3, 4], 9, "early", 1, -1, False)]),
        ({"processing_time": 6}, []),
        ({"input": [5]}, [P([0, 10], [5], [1, 2, 3, 4, 5], 9, "early", 2, -1, False)]),
        ({"watermark": 10}, [P([0, 10], [], [1, 2, 3, 4, 5], 9, "on_time", 3, 0, True)]),
    ],
)

case(
    "late_after_first_fixed", "fixed(10)",
    "after_watermark(late=after_first(after_count(2), after_processing_time(5)))", 100,
    [
        "Tree: 0 AfterWatermarkEarlyAndLate, 1 Never (early: AfterWatermark.withLateFirings), 2 AfterFirst (late), "
        "3 AfterPane(2), 4 AfterProcessingTime(5).",
        "Action 1: the end-of-window timer: onNonLateFiring at the end sets bit 1 and clears the late trigger: ON_TIME pane.",
        "Actions 2-3: late elements (behind the output watermark 10: no element hold, pane stamped end - 1). "
        "AfterWatermarkEarlyAndLate.onElement (non-merging) runs the first unfinished sub-trigger, the late "
        "AfterFirst; the count fires at action 3 (bit 3 set); onLateFiring clears AfterFirst and unsets bit 2 only.",
        "Action 4: AfterFirstStateMachine.shouldFire: bit 3 is set: late pane [5] at once.",
        "Action 6: the delay timer at 5: ready, empty, not ON_TIME: nothing.",
        "Action 8: garbage collection: nothing new since the last pane and the pane would be LATE: nothing.",
    ],
    [
        ({"input": [1, 2]}, []),
        ({"watermark": 10}, [P([0, 10], [1, 2], [1, 2], 9, "on_time", 0, 0, False)]),
        ({"input": [3]}, []),
        ({"input": [4]}, [P([0, 10], [3, 4], [1, 2, 3, 4], 9, "late", 1, 1, False)]),
        ({"input": [5]}, [P([0, 10], [5], [1, 2, 3, 4, 5], 9, "late", 2, 2, False)]),
        ({"processing_time": 6}, []),
        ({"end": True}, []),
    ],
)

case(
    "late_after_all_fixed", "fixed(10)",
    "after_watermark(late=after_all(after_count(2), after_processing_time(5)))", 100,
    [
        "Tree: 0 AfterWatermarkEarlyAndLate, 1 Never (early), 2 AfterAll (late), 3 AfterPane(2), 4 AfterProcessingTime(5).",
        "Action 1: ON_TIME pane at the end of the window.",
        "Actions 2-3: the late AfterAll counts 2 but the delay (armed at 0 + 5) is not ready.",
        "Action 4: processing time 6: AfterAll.onFire fires both (bits 3, 4); onLateFiring unsets bit 2 only.",
        "Action 5: AfterAllStateMachine.shouldFire skips finished sub-triggers: late pane [4] at once.",
        "Action 6: garbage collection: nothing new: nothing.",
    ],
    [
        ({"input": [1]}, []),
        ({"watermark": 10}, [P([0, 10], [1], [1], 9, "on_time", 0, 0, False)]),
        ({"input": [2]}, []),
        ({"input": [3]}, []),
        ({"processing_time": 6}, [P([0, 10], [2, 3], [1, 2, 3], 9, "late", 1, 1, False)]),
        ({"input": [4]}, [P([0, 10], [4], [1, 2, 3, 4], 9, "late", 2, 2, False)]),
        ({"end": True}, []),
    ],
)

# ---------------------------------------------------------------- sliding windows
case(
    "early_after_first_sliding", "sliding(10, 5)",
    "after_watermark(early=after_first(after_count(2), after_processing_time(5)))", 0,
    [
        "Each window has its own trigger state. Tree as in early_after_first_count_fixed.",
        "Action 0: 6 and 7 lie in [0,10) and [5,15): both counts fire (bit 2 stays set in both).",
        "Action 1: 11 lies in [5,15) (bit 2 set: AfterFirstStateMachine.shouldFire, early pane [11]) and [10,20) (count 1).",
        "Action 2: 3 lies in [-5,5) (count 1) and [0,10) (fires at once).",
        "Action 3: watermark 10 garbage-collects [-5,5) (ON_TIME, its only pane) and [0,10) (ON_TIME, empty when discarding).",
        "Action 4: delay timers at 5: [5,15) is ready (bit 2) but has nothing new: nothing; [10,20)'s delay fires: early [11].",
        "Action 5: end: ON_TIME panes for [5,15) and [10,20) (output watermark 10 had not passed their ends), empty when discarding.",
    ],
    [
        ({"input": [6, 7]}, [P([0, 10], [6, 7], [6, 7], 9, "early", 0, -1, False),
                             P([5, 15], [6, 7], [6, 7], 14, "early", 0, -1, False)]),
        ({"input": [11]}, [P([5, 15], [11], [6, 7, 11], 14, "early", 1, -1, False)]),
        ({"input": [3]}, [P([0, 10], [3], [3, 6, 7], 9, "early", 1, -1, False)]),
        ({"watermark": 10}, [P([-5, 5], [3], [3], 4, "on_time", 0, 0, True),
                             P([0, 10], [], [3, 6, 7], 9, "on_time", 2, 0, True)]),
        ({"processing_time": 6}, [P([10, 20], [11], [11], 19, "early", 0, -1, False)]),
        ({"end": True}, [P([5, 15], [], [6, 7, 11], 14, "on_time", 2, 0, True),
                         P([10, 20], [], [11], 19, "on_time", 1, 0, True)]),
    ],
)

case(
    "early_after_all_sliding", "sliding(10, 5)",
    "after_watermark(early=after_all(after_count(2), after_processing_time(5)))", 0,
    [
        "Tree as in early_after_all_fixed; each window has its own state.",
        "Action 0: 6 in [0,10) and [5,15): count 1 each, delays armed at 5.",
        "Action 1: 7: counts 2, delays not ready (AfterAllStateMachine.shouldFire).",
        "Action 2: processing time 6: both windows fire (bits 2, 3 set in each).",
        "Action 3: 8 in [0,10) and [5,15): AfterAll has no unfinished sub-trigger: both fire at once.",
        "Action 4: watermark 10: [0,10) ON_TIME at garbage collection; [5,15) stays.",
        "Action 5: end: [5,15) ON_TIME (output watermark 10 < 14), empty when discarding.",
    ],
    [
        ({"input": [6]}, []),
        ({"input": [7]}, []),
        ({"processing_time": 6}, [P([0, 10], [6, 7], [6, 7], 9, "early", 0, -1, False),
                                  P([5, 15], [6, 7], [6, 7], 14, "early", 0, -1, False)]),
        ({"input": [8]}, [P([0, 10], [8], [6, 7, 8], 9, "early", 1, -1, False),
                          P([5, 15], [8], [6, 7, 8], 14, "early", 1, -1, False)]),
        ({"watermark": 10}, [P([0, 10], [], [6, 7, 8], 9, "on_time", 2, 0, True)]),
        ({"end": True}, [P([5, 15], [], [6, 7, 8], 14, "on_time", 2, 0, True)]),
    ],
)

# ---------------------------------------------------------------- sessions
case(
    "early_after_first_sessions_merge", "sessions(10)",
    "after_watermark(early=after_first(after_count(2), after_processing_time(5)))", 0,
    [
        "Tree as in early_after_first_count_fixed. Sessions merge: AfterWatermarkEarlyAndLate.onElement runs "
        "every sub-trigger (isMerging).",
        "Action 1: 3 merges [1,11) into [1,13) (a new window): AfterPaneStateMachine.onMerge sums the counts "
        "(1), then 3 makes 2: early pane [1, 3]; bit 2 (the count) set, the delay cleared.",
        "Action 3: 12 bridges [1,13) and [20,30) into the new window [1,30). AfterPaneStateMachine.onMerge: "
        "finished in a merging window ([1,13)) -> finished; AfterDelayFromFirstElementStateMachine.onMerge "
        "keeps the earliest deadline (5); AfterFirstStateMachine.onMerge sets bit 1 (a sub-trigger is "
        "finished) and AfterWatermarkEarlyAndLate.onMerge unsets it (early not finished in all windows). "
        "AfterFirstStateMachine.shouldFire counts bit 2: early pane of [1,30), index 0 (a new window starts "
        "again), with [1,13)'s and [20,30)'s unemitted contents.",
        "Action 4: the delay timer at 5: ready, nothing new, not ON_TIME: nothing.",
        "Action 6: end: the ON_TIME pane at garbage collection (output watermark never moved).",
    ],
    [
        ({"input": [1]}, []),
        ({"input": [3]}, [P([1, 13], [1, 3], [1, 3], 12, "early", 0, -1, False)]),
        ({"input": [20]}, []),
        ({"input": [12]}, [P([1, 30], [12, 20], [1, 3, 12, 20], 29, "early", 0, -1, False)]),
        ({"processing_time": 6}, []),
        ({"end": True}, [P([1, 30], [], [1, 3, 12, 20], 29, "on_time", 1, 0, True)]),
    ],
)

case(
    "early_after_all_sessions_delay_merge", "sessions(10)",
    "after_watermark(early=after_all(after_count(2), after_processing_time(5)))", 0,
    [
        "Tree as in early_after_all_fixed.",
        "Action 1: 2 merges [1,11) into [1,12): the count sums to 2, the deadline 5 is kept; AfterAll waits for the delay.",
        "Action 2: processing time 6: AfterAll fires both (bits 2 and 3 set in [1,12)).",
        "Action 3: 9 merges [1,12) into the new window [1,19). AfterPaneStateMachine.onMerge: finished in a "
        "merging window -> finished. AfterDelayFromFirstElementStateMachine.onMerge asks "
        "c.trigger().isFinished(), the bit of the merge *result* (new: unset), not of the merging windows: "
        "the delay is unfinished, and 9 arms it at 6 + 5. AfterAllStateMachine.shouldFire waits for it: nothing.",
        "Action 4: processing time 12 > 11: early pane of [1,19), index 0.",
        "Action 5: end: ON_TIME pane at garbage collection.",
    ],
    [
        ({"input": [1]}, []),
        ({"input": [2]}, []),
        ({"processing_time": 6}, [P([1, 12], [1, 2], [1, 2], 11, "early", 0, -1, False)]),
        ({"input": [9]}, []),
        ({"processing_time": 12}, [P([1, 19], [9], [1, 2, 9], 18, "early", 0, -1, False)]),
        ({"end": True}, [P([1, 19], [], [1, 2, 9], 18, "on_time", 1, 0, True)]),
    ],
)

case(
    "early_after_first_sessions_late_phase_counts", "sessions(10)",
    "after_watermark(early=after_first(after_count(2), after_processing_time(100)), late=after_count(1))", 100,
    [
        "Tree: 0 AfterWatermarkEarlyAndLate, 1 AfterFirst (early), 2 AfterPane(2), 3 AfterProcessingTime(100), "
        "4 AfterPane(1) (late).",
        "Action 1: ON_TIME pane of [1,11); onNonLateFiring sets bit 1 and clears both sub-triggers.",
        "Action 2: another element at 1: the same window, no merge. With merging windows "
        "AfterWatermarkEarlyAndLate.onElement runs every sub-trigger and invokeOnElement does not skip the "
        "finished early AfterFirst: its count becomes 1 (and its delay is armed). The late count fires: LATE pane.",
        "Action 3: 5 extends the session to [1,15), whose end the watermark (11) has not passed: "
        "AfterWatermarkEarlyAndLate.onMerge runs the early trigger's onMerge (counts sum to 1, from action 2) "
        "and unsets bits 1 and 4. With 5 the count is 2: EARLY pane of the new window [1,15), index 0.",
        "Action 4: the end-of-window timer: onNonLateFiring at the end; the window has nothing new but the "
        "pane is ON_TIME (output watermark 11 < 14): emitted, empty when discarding.",
        "Action 5: end: garbage collection has nothing new and would be LATE: nothing.",
    ],
    [
        ({"input": [1]}, []),
        ({"watermark": 11}, [P([1, 11], [1], [1], 10, "on_time", 0, 0, False)]),
        ({"input": [1]}, [P([1, 11], [1], [1, 1], 10, "late", 1, 1, False)]),
        ({"input": [5]}, [P([1, 15], [5], [1, 1, 5], 14, "early", 0, -1, False)]),
        ({"watermark": 15}, [P([1, 15], [], [1, 1, 5], 14, "on_time", 1, 0, False)]),
        ({"end": True}, []),
    ],
)

case(
    "late_after_first_sessions", "sessions(10)",
    "after_watermark(late=after_first(after_count(2), after_processing_time(5)))", 100,
    [
        "Tree: 0 AfterWatermarkEarlyAndLate, 1 Never (early), 2 AfterFirst (late), 3 AfterPane(2), 4 AfterProcessingTime(5).",
        "Action 1: ON_TIME pane of [1,11).",
        "Action 3: 0 merges [1,11) into [0,11), whose end is passed: AfterWatermarkEarlyAndLate.onMerge stays "
        "late and merges the late AfterFirst (count 1 + 1). The count fires: LATE pane, index 0 of the new window.",
        "Action 4: 5 extends the session to [0,15) beyond the watermark: back to the early phase (late cleared).",
        "Action 5: ON_TIME pane of [0,15) at its end-of-window timer.",
        "Action 6: 3 lies inside [0,15) (merge result = the existing window): late AfterFirst count 1, delay armed at 5.",
        "Action 7: the delay fires (bit 4 set); onLateFiring unsets bit 2 only: LATE pane [3].",
        "Action 8: 4 lies inside [0,15): the merge result is the existing window, whose own bit 4 is set: "
        "AfterDelayFromFirstElementStateMachine.onMerge keeps it finished and AfterFirstStateMachine.onMerge "
        "marks AfterFirst finished. AfterFirstStateMachine.shouldFire counts bit 4: LATE pane [4] at once.",
        "Action 9: end: garbage collection has nothing new: nothing.",
    ],
    [
        ({"input": [1]}, []),
        ({"watermark": 11}, [P([1, 11], [1], [1], 10, "on_time", 0, 0, False)]),
        ({"input": [1]}, []),
        ({"input": [0]}, [P([0, 11], [0, 1], [0, 1, 1], 10, "late", 0, 0, False)]),
        ({"input": [5]}, []),
        ({"watermark": 15}, [P([0, 15], [5], [0, 1, 1, 5], 14, "on_time", 0, 0, False)]),
        ({"input": [3]}, []),
        ({"processing_time": 6}, [P([0, 15], [3], [0, 1, 1, 3, 5], 14, "late", 1, 1, False)]),
        ({"input": [4]}, [P([0, 15], [4], [0, 1, 1, 3, 4, 5], 14, "late", 2, 2, False)]),
        ({"end": True}, []),
    ],
)

case(
    "after_each_or_finally_sessions", "sessions(10)",
    "after_each(or_finally(repeatedly(after_count(2)), after_processing_time(5)), "
    "or_finally(repeatedly(after_count(1)), after_count(2)))", 0,
    [
        "Tree: 0 AfterEach, 1 OrFinally, 2 Repeatedly, 3 AfterPane(2), 4 AfterProcessingTime(5), 5 OrFinally, "
        "6 Repeatedly, 7 AfterPane(1), 8 AfterPane(2). Sessions merge, so AfterEachStateMachine.onElement runs "
        "every sub-trigger (finished or not) and onFire clears them all.",
        "Action 1: the delay fires: OrFinally.onFire fires the until (bit 4, then bit 1): early pane; AfterEach moves on.",
        "Action 2: 3 merges [1,11) into the new window [1,13). AfterEachStateMachine.onMerge merges the first "
        "OrFinally: AfterDelayFromFirstElementStateMachine.onMerge looks at the result's own bit (new window: "
        "unset), so the until is unfinished, the OrFinally too, and AfterEach is back at its first sub-trigger "
        "(the second is cleared). Count 1: nothing.",
        "Action 3: 5 merges again ([1,15)); the count reaches 2: Repeatedly fires: early pane, index 0.",
        "Action 4: processing time 12: the deadline was cleared by that firing: nothing.",
        "Action 5: 7 merges ([1,17)), arms the delay at 12 + 5.",
        "Action 6: processing time 18: the until fires: early pane; AfterEach moves to the second OrFinally.",
        "Action 7: 6 lies inside [1,17): the merge result is the existing window, its own bit 4 is set, so the "
        "first OrFinally stays finished; the second's Repeatedly(AfterPane(1)) fires: early pane, not last.",
        "Action 8: 2 and 4 inside [1,17): the second OrFinally's until AfterPane(2) fires: AfterEach has no "
        "unfinished sub-trigger left (updateFinishedState): the pane is last.",
        "Action 9: end: the window is closed (finished trigger): garbage collection emits nothing.",
    ],
    [
        ({"input": [1]}, []),
        ({"processing_time": 6}, [P([1, 11], [1], [1], 10, "early", 0, -1, False)]),
        ({"input": [3]}, []),
        ({"input": [5]}, [P([1, 15], [3, 5], [1, 3, 5], 14, "early", 0, -1, False)]),
        ({"processing_time": 12}, []),
        ({"input": [7]}, []),
        ({"processing_time": 18}, [P([1, 17], [7], [1, 3, 5, 7], 16, "early", 0, -1, False)]),
        ({"input": [6]}, [P([1, 17], [6], [1, 3, 5, 6, 7], 16, "early", 1, -1, False)]),
        ({"input": [2, 4]}, [P([1, 17], [2, 4], [1, 2, 3, 4, 5, 6, 7], 16, "early", 2, -1, True)]),
        ({"end": True}, []),
    ],
)


def inside(a, b):
    return b[0] <= a[0] and a[1] <= b[1]


def build(c, mode):
    transcript = []
    unretracted = []  # (window, values)
    for action, panes in c["steps"]:
        transcript.append(action)
        block = []
        for p in panes:
            values = p["new"] if mode == "discarding" else p["full"]
            if mode == "retracting":
                kept = []
                for (w, vs) in unretracted:
                    if inside(w, p["window"]):
                        block.append({"key": "k", "window": w, "values": vs, "retraction": True})
                    else:
                        kept.append((w, vs))
                unretracted = kept
            pane = {
                "key": "k", "window": p["window"], "values": values, "timestamp": p["ts"], "timing": p["timing"],
                "index": p["index"], "nonspeculative_index": p["nsi"], "first": p["index"] == 0, "last": p["last"],
            }
            if mode == "retracting":
                pane["retraction"] = False
                if not p["last"]:
                    unretracted.append((p["window"], values))
            block.append(pane)
        transcript.append({"expect": block})
    name = f"{c['name']}_{mode}"
    return {
        "name": name,
        "source": "hand-derived for highwater issue #12 from Beam Java runners-core (see notes); make.py",
        "reference": "beam-java",
        "window": c["window"],
        "trigger": c["trigger"],
        "allowed_lateness": c["lateness"],
        "accumulation": mode,
        "timestamp_combiner": "end_of_window",
        "combine": "collect",
        "notes": COMMON_NOTES + c["notes"],
        "transcript": transcript,
    }


if __name__ == "__main__":
    for c in CASES:
        for mode in ["discarding", "accumulating", "retracting"]:
            s = build(c, mode)
            with open(os.path.join(HERE, s["name"] + ".json"), "w") as f:
                json.dump(s, f, indent=1)
                f.write("\n")
    print(f"{3 * len(CASES)} scenarios written")
