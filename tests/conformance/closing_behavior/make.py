#!/usr/bin/env python3
"""Writes the closing_behavior scenarios: Beam's ClosingBehavior and OnTimeBehavior
(highwater extension fields `closing_behavior` and `on_time_behavior`,
docs/conformance-format.md), and a watermark passing a window's end and its
garbage-collection time in one action.

Each case lists its transcript and, after each action that emits, the panes derived by
hand from Beam Java's runners-core ReduceFnRunner (onTimers/WindowActivation, emit,
onTrigger, needToEmit), PaneInfoTracker.describePane and WatermarkHold
(addHolds, extractAndRelease, addGarbageCollectionHold), driven as ReduceFnTester drives
them (the output watermark latched after each watermark action; FORMAT.md rule 8). The
notes of each case say which code path decides each pane. Firings do not depend on the
accumulation mode, so one derivation gives up to three files: `discarding` takes each
pane's new elements, `accumulating` the window's whole contents, `retracting` the
accumulating panes each preceded by FORMAT.md's retractions. Run `python3 make.py` here to
regenerate.
"""
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))

COMMON_NOTES = [
    "Hand-derived from Beam Java runners-core ReduceFnRunner.java (needToEmit: a pane is emitted if it "
    "has elements, or it is ON_TIME and OnTimeBehavior is FIRE_ALWAYS, or it is final and ClosingBehavior "
    "is FIRE_ALWAYS), PaneInfoTracker.describePane and WatermarkHold.java; one derivation for the "
    "accumulation modes listed (make.py).",
]

SOURCE = "hand-derived for highwater issue #13 from Beam Java runners-core (see notes); make.py"


def P(window, new, full, ts, timing, index, nsi, last, key="k"):
    return dict(window=window, new=new, full=full, ts=ts, timing=timing, index=index, nsi=nsi, last=last, key=key)


CASES = []


def case(name, window, trigger, lateness, notes, steps, modes=("discarding", "accumulating", "retracting"),
         closing=None, on_time=None, tc="end_of_window", combine="collect", source=SOURCE, common=True):
    CASES.append(dict(name=name, window=window, trigger=trigger, lateness=lateness, notes=notes, steps=steps,
                      modes=modes, closing=closing, on_time=on_time, tc=tc, combine=combine, source=source,
                      common=common))


GC_FINAL = ("ReduceFnRunner.onTimers: the input watermark is past the garbage-collection time "
            "(WindowActivation.isGarbageCollection), the window is active and open, so onTrigger(isFinished=true)")

# ------------------------------------------------------------ ClosingBehavior.FIRE_ALWAYS
case(
    "fire_always_default_trigger", "fixed(10)", "default", 5,
    [
        "closing_behavior fire_always: the window ends with a final pane at garbage collection even though "
        "nothing arrived after its ON_TIME pane.",
        "Action 2: the end-of-window timer (9) fires; WindowActivation.isEndOfWindow, not garbage collection "
        "(10 is not after 9 + 5); the default trigger fires: ON_TIME (describePane: no previous pane, output "
        "watermark -inf, input watermark past the end), not final. WatermarkHold.extractAndRelease(isFinished="
        "false) adds a garbage-collection hold at 14 (addGarbageCollectionHold(paneIsEmpty=true) with "
        "FIRE_ALWAYS).",
        "Action 4: watermark 14 is not after the garbage-collection time 14: nothing.",
        "Action 6: " + GC_FINAL + ": nothing new since the ON_TIME pane (NonEmptyPanes), timing LATE (the "
        "previous pane was ON_TIME), index 1, nonspeculative index 1; needToEmit: final and FIRE_ALWAYS, so it "
        "is emitted, last; its timestamp is the hold 14 clipped to the end of the window, 9. Discarding it is "
        "empty, accumulating it repeats the contents. With the default FIRE_IF_NON_EMPTY nothing is emitted "
        "here.",
    ],
    [
        ({"input": [1, 2]}, []),
        ({"watermark": 10}, [P([0, 10], [1, 2], [1, 2], 9, "on_time", 0, 0, False)]),
        ({"watermark": 14}, []),
        ({"watermark": 15}, [P([0, 10], [], [1, 2], 9, "late", 1, 1, True)]),
        ({"end": True}, []),
    ],
    closing="fire_always",
)

case(
    "fire_always_late_data", "fixed(10)", "default", 5,
    [
        "closing_behavior fire_always with a late element that fires its own LATE pane.",
        "Action 2: ON_TIME pane [1] (end-of-window timer, default trigger), not final; garbage-collection hold "
        "at 14 (FIRE_ALWAYS).",
        "Action 4: element 3 arrives at watermark 10, not too late (LateDataUtils: 9 + 5 is not before 10). "
        "WatermarkHold.addHolds: its end-of-window output time 9 is before the output watermark 10, so it gets "
        "the garbage-collection hold 14. The default trigger (Repeatedly(AfterWatermark)) is ready at once: a "
        "LATE pane, index 1, nonspeculative index 1, timestamp 9 (the hold 14 clipped to the end of the window).",
        "Action 6: " + GC_FINAL + ": nothing new, LATE, index 2, last; emitted because FIRE_ALWAYS.",
    ],
    [
        ({"input": [1]}, []),
        ({"watermark": 10}, [P([0, 10], [1], [1], 9, "on_time", 0, 0, False)]),
        ({"input": [3]}, [P([0, 10], [3], [1, 3], 9, "late", 1, 1, False)]),
        ({"watermark": 15}, [P([0, 10], [], [1, 3], 9, "late", 2, 2, True)]),
        ({"end": True}, []),
    ],
    closing="fire_always",
)

case(
    "fire_always_late_data_at_garbage_collection", "fixed(10)", "after_watermark(late=after_count(2))", 5,
    [
        "closing_behavior fire_always, a late element that does not fire: the final pane at garbage "
        "collection carries it (it would with FIRE_IF_NON_EMPTY too), and the window is not emitted twice.",
        "Action 2: ON_TIME pane [1]; AfterWatermarkEarlyAndLate moves to its late phase.",
        "Action 4: element 3 (garbage-collection hold 14): the late after_count(2) has one element, no pane.",
        "Action 6: " + GC_FINAL + ": non-empty, LATE, index 1, last, timestamp 9.",
    ],
    [
        ({"input": [1]}, []),
        ({"watermark": 10}, [P([0, 10], [1], [1], 9, "on_time", 0, 0, False)]),
        ({"input": [3]}, []),
        ({"end": True}, [P([0, 10], [3], [1, 3], 9, "late", 1, 1, True)]),
    ],
    closing="fire_always",
)

case(
    "fire_always_early_and_late_firings", "fixed(10)", "after_watermark(early=after_count(2), late=after_count(2))", 10,
    [
        "closing_behavior fire_always with early and late firings.",
        "Action 0: the early after_count(2) fires: EARLY, index 0. A garbage-collection hold at 19 "
        "(extractAndRelease, FIRE_ALWAYS).",
        "Action 2: one element towards the next early count: nothing.",
        "Action 4: the end-of-window timer: AfterWatermarkEarlyAndLate fires on time with [3] new: ON_TIME, "
        "index 1, nonspeculative index 0.",
        "Action 6: two late elements, the late after_count(2) fires: LATE, index 2.",
        "Action 8: " + GC_FINAL + ": nothing new, LATE, index 3, last, emitted because FIRE_ALWAYS.",
    ],
    [
        ({"input": [1, 2]}, [P([0, 10], [1, 2], [1, 2], 9, "early", 0, -1, False)]),
        ({"input": [3]}, []),
        ({"watermark": 10}, [P([0, 10], [3], [1, 2, 3], 9, "on_time", 1, 0, False)]),
        ({"input": [4, 5]}, [P([0, 10], [4, 5], [1, 2, 3, 4, 5], 9, "late", 2, 1, False)]),
        ({"watermark": 20}, [P([0, 10], [], [1, 2, 3, 4, 5], 9, "late", 3, 2, True)]),
    ],
    closing="fire_always",
)

case(
    "fire_always_sessions", "sessions(10)", "default", 5,
    [
        "closing_behavior fire_always with sessions.",
        "Action 2: element 5 merges [1, 11) and [5, 15) into [1, 15) (MergingActiveWindowSet; "
        "WatermarkHold.onMerge re-adds the end-of-window hold 14 and a garbage-collection hold at 19).",
        "Action 4: the end-of-window timer of [1, 15) (14): ON_TIME, not final, timestamp 14; "
        "garbage-collection hold at 19 (FIRE_ALWAYS).",
        "Action 6: " + GC_FINAL + " for [1, 15) (19 + 1 = 20): nothing new, LATE, index 1, last, timestamp 14.",
    ],
    [
        ({"input": [1]}, []),
        ({"input": [5]}, []),
        ({"watermark": 15}, [P([1, 15], [1, 5], [1, 5], 14, "on_time", 0, 0, False)]),
        ({"watermark": 20}, [P([1, 15], [], [1, 5], 14, "late", 1, 1, True)]),
        ({"end": True}, []),
    ],
    closing="fire_always",
)

case(
    "fire_always_sessions_late_merge", "sessions(10)", "default", 5,
    [
        "closing_behavior fire_always, a late element that merges into a session after its ON_TIME pane.",
        "Action 2: the end-of-window timer of [1, 11) (10): ON_TIME [1], timestamp 10; garbage-collection hold "
        "at 15 (FIRE_ALWAYS).",
        "Action 4: element 8 ([8, 18), not too late: 17 + 5 is not before 11) merges with [1, 11) into the new "
        "window [1, 18): ReduceFnRunner.OnMergeCallback cancels the timers of [1, 11) and clears its pane info "
        "(a new window starts at index 0); the merged default trigger waits for 17 (rule 13); the element hold "
        "is at 17 (not behind the output watermark 11). Nothing fires.",
        "Action 6: the end-of-window timer of [1, 18): ON_TIME (no previous pane of [1, 18), output watermark "
        "11), index 0, timestamp 17; discarding holds only 8 ([1, 11) was discarded after its pane). Not final: "
        "garbage-collection hold at 22.",
        "Action 8: " + GC_FINAL + " for [1, 18) (22 + 1 = 23): nothing new, LATE, index 1, last.",
    ],
    [
        ({"input": [1]}, []),
        ({"watermark": 11}, [P([1, 11], [1], [1], 10, "on_time", 0, 0, False)]),
        ({"input": [8]}, []),
        ({"watermark": 18}, [P([1, 18], [8], [1, 8], 17, "on_time", 0, 0, False)]),
        ({"watermark": 23}, [P([1, 18], [], [1, 8], 17, "late", 1, 1, True)]),
    ],
    closing="fire_always",
)

case(
    "fire_always_two_keys", "fixed(10)", "after_watermark(late=after_count(1))", 5,
    [
        "closing_behavior fire_always is per key and window: each window that received an element ends "
        "with its own final pane; a window that never received one emits nothing.",
        "Action 2: ON_TIME panes for a and b (end-of-window timers).",
        "Action 4: a late element for b fires b's late after_count(1): LATE, index 1.",
        "Action 6: " + GC_FINAL + " for both: nothing new, LATE, last, emitted because FIRE_ALWAYS.",
    ],
    [
        ({"input": [{"ts": 1, "key": "a"}, {"ts": 2, "key": "b"}]}, []),
        ({"watermark": 10}, [P([0, 10], [1], [1], 9, "on_time", 0, 0, False, "a"),
                             P([0, 10], [2], [2], 9, "on_time", 0, 0, False, "b")]),
        ({"input": [{"ts": 3, "key": "b"}]}, [P([0, 10], [3], [2, 3], 9, "late", 1, 1, False, "b")]),
        ({"watermark": 15}, [P([0, 10], [], [1], 9, "late", 1, 1, True, "a"),
                             P([0, 10], [], [2, 3], 9, "late", 2, 2, True, "b")]),
        ({"end": True}, []),
    ],
    closing="fire_always",
)

case(
    "fire_always_trigger_finishes_on_an_empty_firing", "fixed(10)", "after_watermark(early=after_count(1))", 5,
    [
        "closing_behavior fire_always with on_time_behavior fire_if_non_empty: the trigger finishes on an "
        "empty firing, and that final pane is emitted.",
        "Action 0: the early after_count(1) fires: EARLY [1].",
        "Action 2: the end-of-window timer: AfterWatermarkEarlyAndLate (no late firings) fires and finishes; "
        "ReduceFnRunner.emit -> onTrigger(isFinished=true): nothing new, ON_TIME (only early panes, output "
        "watermark -inf), index 1; needToEmit: not because of ON_TIME (FIRE_IF_NON_EMPTY) but because it is "
        "final and ClosingBehavior is FIRE_ALWAYS. The trigger is closed.",
        "Action 4: element 2 is for a closed window (ReduceFnRunner.processElement: triggerRunner.isClosed): "
        "dropped.",
        "Action 6: garbage collection of a closed window (windowIsActiveAndOpen false): clearAllState only.",
    ],
    [
        ({"input": [1]}, [P([0, 10], [1], [1], 9, "early", 0, -1, False)]),
        ({"watermark": 10}, [P([0, 10], [], [1], 9, "on_time", 1, 0, True)]),
        ({"input": [2]}, []),
        ({"watermark": 15}, []),
    ],
    modes=("discarding", "accumulating"),
    closing="fire_always", on_time="fire_if_non_empty",
)

# ------------------------------------------------------------ OnTimeBehavior.FIRE_IF_NON_EMPTY
case(
    "on_time_fire_if_non_empty_after_early", "fixed(10)", "after_watermark(early=after_count(1), late=after_count(1))", 5,
    [
        "on_time_behavior fire_if_non_empty: the empty ON_TIME firing after an early pane is silent.",
        "Action 0: EARLY [1].",
        "Action 2: the end-of-window timer: AfterWatermarkEarlyAndLate fires (late phase from now on); "
        "onTrigger: nothing new since the early pane, and both behaviors are FIRE_IF_NON_EMPTY, so onTrigger "
        "returns before describing the pane: nothing is emitted and no pane info is stored.",
        "Action 4: a late element fires the late after_count(1): describePane from the EARLY pane: LATE (the "
        "output watermark 10 passed the end), index 1, nonspeculative index 0; timestamp 9 (its "
        "garbage-collection hold 14 clipped).",
        "Action 6: garbage collection with nothing new: silent (FIRE_IF_NON_EMPTY).",
    ],
    [
        ({"input": [1]}, [P([0, 10], [1], [1], 9, "early", 0, -1, False)]),
        ({"watermark": 10}, []),
        ({"input": [3]}, [P([0, 10], [3], [1, 3], 9, "late", 1, 0, False)]),
        ({"watermark": 15}, []),
        ({"end": True}, []),
    ],
    on_time="fire_if_non_empty",
)

case(
    "on_time_fire_if_non_empty_with_elements", "fixed(10)", "after_watermark(early=after_count(2))", 0,
    [
        "on_time_behavior fire_if_non_empty does not touch an ON_TIME pane that has elements.",
        "Action 0: key a reaches the early after_count(2): EARLY [1, 2]; key b has one element.",
        "Action 2: one more element for a, no early pane.",
        "Action 4: allowed lateness 0: the end-of-window timer is the garbage-collection timer; onTrigger("
        "isFinished=true) for a and b: both have elements since their last pane, ON_TIME, last.",
    ],
    [
        ({"input": [{"ts": 1, "key": "a"}, {"ts": 2, "key": "a"}, {"ts": 3, "key": "b"}]},
         [P([0, 10], [1, 2], [1, 2], 9, "early", 0, -1, False, "a")]),
        ({"input": [{"ts": 4, "key": "a"}]}, []),
        ({"watermark": 10}, [P([0, 10], [4], [1, 2, 4], 9, "on_time", 1, 0, True, "a"),
                             P([0, 10], [3], [3], 9, "on_time", 0, 0, True, "b")]),
    ],
    on_time="fire_if_non_empty",
)

case(
    "on_time_fire_if_non_empty_zero_lateness", "fixed(10)", "after_watermark(early=after_count(1))", 0,
    [
        "on_time_behavior fire_if_non_empty, allowed lateness 0, default closing: the window's last firing "
        "is empty and emits nothing, so no pane is marked last (compare "
        "both_non_default_zero_lateness).",
        "Action 2: the end-of-window timer is the garbage-collection timer: onTrigger(isFinished=true) with "
        "nothing new; both behaviors FIRE_IF_NON_EMPTY: onTrigger returns without output.",
    ],
    [
        ({"input": [1]}, [P([0, 10], [1], [1], 9, "early", 0, -1, False)]),
        ({"watermark": 10}, []),
    ],
    modes=("discarding", "accumulating"),
    on_time="fire_if_non_empty",
)

# ------------------------------------------------------------ both non-default
case(
    "both_non_default_final_pane_only", "fixed(10)", "after_watermark(early=after_count(1), late=after_count(1))", 5,
    [
        "closing_behavior fire_always and on_time_behavior fire_if_non_empty: no empty ON_TIME pane, but an "
        "empty final pane.",
        "Action 0: EARLY [1]; garbage-collection hold 14 (FIRE_ALWAYS).",
        "Action 2: the ON_TIME firing has nothing new: needToEmit is false (ON_TIME but FIRE_IF_NON_EMPTY; "
        "not final). No pane info is stored.",
        "Action 4: " + GC_FINAL + ": nothing new; describePane from the EARLY pane: LATE (output watermark "
        "10), index 1, nonspeculative index 0; emitted because final and FIRE_ALWAYS.",
    ],
    [
        ({"input": [1]}, [P([0, 10], [1], [1], 9, "early", 0, -1, False)]),
        ({"watermark": 10}, []),
        ({"watermark": 15}, [P([0, 10], [], [1], 9, "late", 1, 0, True)]),
    ],
    closing="fire_always", on_time="fire_if_non_empty",
)

case(
    "both_non_default_zero_lateness", "fixed(10)", "after_watermark(early=after_count(1))", 0,
    [
        "closing_behavior fire_always and on_time_behavior fire_if_non_empty, allowed lateness 0: the empty "
        "firing at the end of the window is also its garbage collection, so it is final and emitted.",
        "Action 2: " + GC_FINAL + ": nothing new, ON_TIME (only an early pane; output watermark -inf), "
        "index 1; needToEmit: final and FIRE_ALWAYS.",
    ],
    [
        ({"input": [1]}, [P([0, 10], [1], [1], 9, "early", 0, -1, False)]),
        ({"watermark": 10}, [P([0, 10], [], [1], 9, "on_time", 1, 0, True)]),
    ],
    modes=("discarding", "accumulating"),
    closing="fire_always", on_time="fire_if_non_empty",
)

case(
    "both_non_default_sessions", "sessions(10)", "after_watermark(early=after_count(1))", 5,
    [
        "closing_behavior fire_always and on_time_behavior fire_if_non_empty with sessions: a merged session "
        "with early panes; its ON_TIME firing is empty and final (no late firings), so it is emitted.",
        "Action 0: [1, 11) fires its early after_count(1): EARLY [1].",
        "Action 2: element 6 merges [1, 11) and [6, 16) into [1, 16), a new window (pane info cleared by "
        "OnMergeCallback); the merged early after_count(1) (count 0 from [1, 11) after its firing, plus the "
        "new element) fires: EARLY, index 0, timestamp 15.",
        "Action 4: the end-of-window timer of [1, 16): AfterWatermarkEarlyAndLate fires and finishes; nothing "
        "new: ON_TIME, index 1, final, emitted because FIRE_ALWAYS (not because ON_TIME).",
        "Action 6: garbage collection of a closed window: nothing.",
    ],
    [
        ({"input": [1]}, [P([1, 11], [1], [1], 10, "early", 0, -1, False)]),
        ({"input": [6]}, [P([1, 16], [6], [1, 6], 15, "early", 0, -1, False)]),
        ({"watermark": 16}, [P([1, 16], [], [1, 6], 15, "on_time", 1, 0, True)]),
        ({"watermark": 30}, []),
    ],
    closing="fire_always", on_time="fire_if_non_empty",
)

# ------------------------------------------------------------ end of window and GC in one action
EOW_GC = (
    "Beam Java ReduceFnRunner.onTimers builds one WindowActivation per window, whichever of its timers "
    "fired (\"How a window is processed is a function only of the current state, not the details of the "
    "timer. This makes us robust to large leaps in processing time and watermark time, where both EOW and "
    "GC timers come in together and we need to GC and emit the final pane.\"); isGarbageCollection is "
    "decided by the input watermark. A watermark that passes both the end of the window and its "
    "garbage-collection time in one action therefore gives one onTrigger(isFinished=true): the ON_TIME pane "
    "(output watermark from before the action), last. ReduceFnRunnerTest.testFixedWindowsEowAndGcTogether, "
    "testFixedWindowsEowAndGcTogetherFireIfNonEmpty and testCombiningAccumulatingEventTime assert this. "
    "(The runners-core of 2017 decided isGarbageCollection by the timer's timestamp and gave an ON_TIME "
    "pane with last false, then a silent garbage collection; Beam changed it.)"
)

case(
    "eow_and_gc_together_end", "fixed(10)", "default", 5,
    [EOW_GC, "Action 1: end moves the watermark past 9 and 14 at once."],
    [
        ({"input": [1]}, []),
        ({"end": True}, [P([0, 10], [1], [1], 9, "on_time", 0, 0, True)]),
    ],
    modes=("discarding", "accumulating"),
)

case(
    "eow_and_gc_together_watermark", "fixed(10)", "default", 5,
    [EOW_GC, "Action 1: watermark 100 passes 9 and 14 at once; closing_behavior fire_always adds no pane "
             "(the window is garbage-collected with the ON_TIME pane)."],
    [
        ({"input": [1]}, []),
        ({"watermark": 100}, [P([0, 10], [1], [1], 9, "on_time", 0, 0, True)]),
        ({"end": True}, []),
    ],
    modes=("discarding", "accumulating"),
    closing="fire_always",
)

case(
    "eow_and_gc_together_early_firings", "fixed(10)", "after_watermark(early=after_count(1), late=after_count(1))", 5,
    [EOW_GC,
     "Actions 0 and 2: EARLY panes (after_count(1)).",
     "Action 4: one activation, as garbage collection: nothing new since the last early pane, ON_TIME "
     "(only early panes so far), index 2, last; emitted because ON_TIME and OnTimeBehavior FIRE_ALWAYS."],
    [
        ({"input": [1]}, [P([0, 10], [1], [1], 9, "early", 0, -1, False)]),
        ({"input": [2]}, [P([0, 10], [2], [1, 2], 9, "early", 1, -1, False)]),
        ({"watermark": 100}, [P([0, 10], [], [1, 2], 9, "on_time", 2, 0, True)]),
    ],
)

# ------------------------------------------------------------ ReduceFnRunnerTest, translated
JAVA = "apache/beam runners/core-java/src/test/java/org/apache/beam/runners/core/ReduceFnRunnerTest.java"

case(
    "java_ReduceFnRunnerTest_testFixedWindowsEowAndGcTogether", "fixed(10)", "default", 50,
    ["Translated: nonCombining(FixedWindows(10), DefaultTrigger, ACCUMULATING, lateness 50, "
     "ClosingBehavior.FIRE_ALWAYS); advanceInputWatermark(0); inject 1; advanceInputWatermark(100) -> "
     "[1] in [0, 10) at 9, PaneInfo(first, last, ON_TIME).", EOW_GC],
    [
        ({"watermark": 0}, []),
        ({"input": [1]}, []),
        ({"watermark": 100}, [P([0, 10], [1], [1], 9, "on_time", 0, 0, True)]),
    ],
    modes=("accumulating",), closing="fire_always", source=JAVA + " testFixedWindowsEowAndGcTogether", common=False,
)

case(
    "java_ReduceFnRunnerTest_testFixedWindowsEowAndGcTogetherFireIfNonEmpty", "fixed(10)", "default", 50,
    ["Translated: as testFixedWindowsEowAndGcTogether with ClosingBehavior.FIRE_IF_NON_EMPTY: the same "
     "single pane.", EOW_GC],
    [
        ({"watermark": 0}, []),
        ({"input": [1]}, []),
        ({"watermark": 100}, [P([0, 10], [1], [1], 9, "on_time", 0, 0, True)]),
    ],
    modes=("accumulating",), source=JAVA + " testFixedWindowsEowAndGcTogetherFireIfNonEmpty", common=False,
)

case(
    "java_ReduceFnRunnerTest_testSessionEowAndGcTogether", "sessions(10)", "default", 50,
    ["Translated: nonCombining(Sessions(10), DefaultTrigger, ACCUMULATING, lateness 50, FIRE_ALWAYS); "
     "advanceInputWatermark(0); inject 1; advanceInputWatermark(100) -> [1] in [1, 11) at 10, "
     "PaneInfo(first, last, ON_TIME).", EOW_GC],
    [
        ({"watermark": 0}, []),
        ({"input": [1]}, []),
        ({"watermark": 100}, [P([1, 11], [1], [1], 10, "on_time", 0, 0, True)]),
    ],
    modes=("accumulating",), closing="fire_always", source=JAVA + " testSessionEowAndGcTogether", common=False,
)

case(
    "java_ReduceFnRunnerTest_noEmptyPanesFinalAlways", "fixed(10)",
    "repeatedly(after_first(after_count(2), after_watermark))", 100,
    ["Translated: FixedWindows(10), Repeatedly(AfterFirst(AfterPane(2), AfterWatermark)), ACCUMULATING, "
     "lateness 100, EARLIEST, ClosingBehavior.FIRE_ALWAYS; advanceInputWatermark(0); inject 1, 2; "
     "advanceInputWatermark(20); advanceInputWatermark(250) -> [1, 2] at 1, [1, 2] at 9 (the ON_TIME "
     "pane), [1, 2] at 9 (the final pane). Pane infos derived from PaneInfoTracker.describePane: EARLY 0; "
     "ON_TIME 1; LATE 2, last (garbage collection, FIRE_ALWAYS). The timestamps after the first pane: no "
     "element hold, the garbage-collection hold 109 clipped to 9."],
    [
        ({"watermark": 0}, []),
        ({"input": [1, 2]}, [P([0, 10], [1, 2], [1, 2], 1, "early", 0, -1, False)]),
        ({"watermark": 20}, [P([0, 10], [], [1, 2], 9, "on_time", 1, 0, False)]),
        ({"watermark": 250}, [P([0, 10], [], [1, 2], 9, "late", 2, 1, True)]),
    ],
    modes=("accumulating",), closing="fire_always", tc="earliest",
    source=JAVA + " noEmptyPanesFinalAlways", common=False,
)

case(
    "java_ReduceFnRunnerTest_noEmptyPanesFinalIfNonEmpty", "fixed(10)",
    "repeatedly(after_first(after_count(2), after_watermark))", 100,
    ["Translated: as noEmptyPanesFinalAlways with ClosingBehavior.FIRE_IF_NON_EMPTY -> only [1, 2] at 1 "
     "and [1, 2] at 9: no final pane at garbage collection."],
    [
        ({"watermark": 0}, []),
        ({"input": [1, 2]}, [P([0, 10], [1, 2], [1, 2], 1, "early", 0, -1, False)]),
        ({"watermark": 20}, [P([0, 10], [], [1, 2], 9, "on_time", 1, 0, False)]),
        ({"watermark": 250}, []),
    ],
    modes=("accumulating",), tc="earliest", source=JAVA + " noEmptyPanesFinalIfNonEmpty", common=False,
)

case(
    "java_ReduceFnRunnerTest_testPaneInfoAllStatesAfterWatermark", "fixed(10)",
    "repeatedly(after_first(after_count(2), after_watermark))", 100,
    ["Translated: FixedWindows(10), Repeatedly(AfterFirst(AfterPane(2), AfterWatermark)), DISCARDING, "
     "lateness 100, EARLIEST, ClosingBehavior.FIRE_ALWAYS; advanceInputWatermark(0); inject 1, 2 -> [1, 2] "
     "at 1, PaneInfo(first, EARLY, 0, -1); advanceInputWatermark(50) -> [] at 9, PaneInfo(ON_TIME, 1, 0); "
     "advanceInputWatermark(150) -> [] at 9, PaneInfo(last, LATE, 2, 1)."],
    [
        ({"watermark": 0}, []),
        ({"input": [1, 2]}, [P([0, 10], [1, 2], [1, 2], 1, "early", 0, -1, False)]),
        ({"watermark": 50}, [P([0, 10], [], [1, 2], 9, "on_time", 1, 0, False)]),
        ({"watermark": 150}, [P([0, 10], [], [1, 2], 9, "late", 2, 1, True)]),
    ],
    modes=("discarding",), closing="fire_always", tc="earliest",
    source=JAVA + " testPaneInfoAllStatesAfterWatermark", common=False,
)

case(
    "java_ReduceFnRunnerTest_testCombiningAccumulatingEventTime", "fixed(100)", "repeatedly(after_watermark)", 1,
    ["Translated: FixedWindows(100), EARLIEST, ACCUMULATING, lateness 1, Repeatedly(AfterWatermark), "
     "Sum; inject 2; inject 5; advanceInputWatermark(1000) -> 7 in [0, 100) at 2, PaneInfo(first, last, "
     "ON_TIME, 0, 0): 'if end-of-window and GC timers come in together, that the pane is correctly marked "
     "as final'.", EOW_GC],
    [
        ({"input": [2]}, []),
        ({"input": [5]}, []),
        ({"watermark": 1000}, [P([0, 100], [2, 5], [2, 5], 2, "on_time", 0, 0, True)]),
    ],
    modes=("accumulating",), tc="earliest", combine="sum",
    source=JAVA + " testCombiningAccumulatingEventTime", common=False,
)


def inside(a, b):
    return b[0] <= a[0] and a[1] <= b[1]


def contents(values, combine):
    if combine == "sum":
        return {"value": sum(values)}
    if combine == "count":
        return {"value": len(values)}
    return {"values": sorted(values)}


def build(c, mode):
    transcript = []
    unretracted = {}  # key -> [(window, contents)]
    for action, panes in c["steps"]:
        transcript.append(action)
        block = []
        for p in panes:
            values = contents(p["new"] if mode == "discarding" else p["full"], c["combine"])
            if mode == "retracting":
                kept = []
                for (w, vs) in unretracted.get(p["key"], []):
                    if inside(w, p["window"]):
                        block.append({"key": p["key"], "window": w, **vs, "retraction": True})
                    else:
                        kept.append((w, vs))
                unretracted[p["key"]] = kept
            pane = {"key": p["key"], "window": p["window"], **values, "timestamp": p["ts"], "timing": p["timing"],
                    "index": p["index"], "nonspeculative_index": p["nsi"], "first": p["index"] == 0,
                    "last": p["last"]}
            if mode == "retracting":
                pane["retraction"] = False
                if not p["last"]:
                    unretracted[p["key"]].append((p["window"], values))
            block.append(pane)
        transcript.append({"expect": block})
    name = c["name"] if c["name"].startswith("java_") else f"{c['name']}_{mode}"
    s = {
        "name": name,
        "source": c["source"],
        "reference": "beam-java",
        "window": c["window"],
        "trigger": c["trigger"],
        "allowed_lateness": c["lateness"],
        "accumulation": mode,
        "timestamp_combiner": c["tc"],
        "combine": c["combine"],
    }
    if c["closing"]:
        s["closing_behavior"] = c["closing"]
    if c["on_time"]:
        s["on_time_behavior"] = c["on_time"]
    s["notes"] = (COMMON_NOTES if c["common"] else []) + c["notes"]
    s["transcript"] = transcript
    return s


if __name__ == "__main__":
    n = 0
    for c in CASES:
        for mode in c["modes"]:
            s = build(c, mode)
            with open(os.path.join(HERE, s["name"] + ".json"), "w") as f:
                json.dump(s, f, indent=1)
                f.write("\n")
            n += 1
    print(f"{n} scenarios written")
