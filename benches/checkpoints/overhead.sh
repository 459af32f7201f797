#!/bin/bash
# The checkpoint overhead on the 10 M-bid replays (benches/README.md, "Checkpoint overhead"):
# each round runs tumble, hop and session without and with `--checkpoint-interval 1s`,
# alternating, and prints one line per run: round, query, workers, mode, wall, user and
# system seconds, the load average, the checkpoints written.
#
#   benches/checkpoints/overhead.sh ./target/release/highwater 5 1 /tmp/bids-10m.csv
set -eu
HW=$1; ROUNDS=$2; WORKERS=$3; BIDS=$4
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
declare -A Q
Q[tumble]="--key-field auction --count --max price --window fixed(10s)"
Q[hop]="--key-field auction --count --window sliding(10s,2s)"
Q[session]="--key-field bidder --count --window sessions(10s)"
for r in $(seq 1 "$ROUNDS"); do
  for q in tumble hop session; do
    for mode in off 1s; do
      rm -rf "$work/ck" "$work/out.jsonl"
      extra=""
      [ "$mode" = 1s ] && extra="--checkpoint-dir $work/ck --checkpoint-interval 1s"
      # shellcheck disable=SC2086
      /usr/bin/time -f "%e %U %S" -o "$work/t" "$HW" run --input "$BIDS" --time-field date_time_ms ${Q[$q]} \
        --watermark 'bounded(1ms)' --no-progress --workers "$WORKERS" --output "$work/out.jsonl" $extra \
        2> "$work/err" > /dev/null
      echo "$r $q w$WORKERS $mode $(cat "$work/t") load=$(cut -d' ' -f1 /proc/loadavg)" \
        "$(grep -o '[0-9]* checkpoints written ([0-9]* bytes)' "$work/err" || true)"
    done
  done
done
