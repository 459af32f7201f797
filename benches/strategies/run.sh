#!/bin/bash
# Every strategy of issue 15 against the hand-written baseline (benches/README.md, "Every
# strategy, one series"): each round runs the baseline's tumble, hop and session, then
# `highwater run` at 1 and at 2 workers with the default trigger (tumble, hop, session)
# and each other strategy (on the tumble; allowed lateness on the hop too). One line per
# run: round, mode, query, workers, wall, user and system seconds, peak RSS in KiB.
# Summarise with benches/strategies/summary.py.
#
#   benches/strategies/run.sh ./target/release/highwater BASELINE 5 /tmp/bids-10m.csv > series.log
set -eu
HW=$1; BASELINE=$2; ROUNDS=$3; BIDS=$4
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
declare -A Q
Q[tumble]="--key-field auction --count --max price --window fixed(10s)"
Q[hop]="--key-field auction --count --window sliding(10s,2s)"
Q[session]="--key-field bidder --count --window sessions(10s)"
declare -A MODE
MODE[default]=""
MODE[late5]="--allowed-lateness 5s"
MODE[acc5]="--allowed-lateness 5s --accumulation accumulating --trigger after_watermark(late=after_count(1))"
MODE[ret5]="--allowed-lateness 5s --accumulation retracting"
MODE[counts]="--trigger after_watermark(early=after_count(1000),late=after_count(1))"
MODE[ptime]="--trigger after_watermark(early=after_processing_time(1s))"
MODE[counts-ret]="--trigger after_watermark(early=after_count(1000),late=after_count(1)) --allowed-lateness 5s --accumulation retracting"
for r in $(seq 1 "$ROUNDS"); do
  for q in tumble hop session; do
    /usr/bin/time -f "%e %U %S %M" -o "$work/t" "$BASELINE" "$q" "$BIDS" "$work/base.csv" --bound-ms 1 > /dev/null
    echo "$r baseline $q 1 $(cat "$work/t")"
  done
  for w in 1 2; do
    for mode in default late5 acc5 ret5 counts ptime counts-ret; do
      for q in tumble hop session; do
        case "$mode/$q" in
          */tumble | default/* | late5/hop) ;;
          *) continue ;;
        esac
        # shellcheck disable=SC2086
        /usr/bin/time -f "%e %U %S %M" -o "$work/t" "$HW" run --input "$BIDS" --time-field date_time_ms ${Q[$q]} \
          --watermark 'bounded(1ms)' --no-progress --workers "$w" ${MODE[$mode]} > /dev/null 2> "$work/err"
        echo "$r $mode $q $w $(cat "$work/t")"
      done
    done
  done
done
