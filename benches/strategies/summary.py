"""Summarises a series of benches/strategies/run.sh: per strategy, query and worker count,
the median wall and CPU time, the median of the per-round ratios to the baseline (same
round, same query) and to the default trigger (same round, query and worker count), and
the peak memory (largest and median of the rounds).

    python3 benches/strategies/summary.py series.log
"""
import collections
import statistics as st
import sys

wall = collections.defaultdict(list)
cpu = collections.defaultdict(list)
rss = collections.defaultdict(list)
rounds = collections.defaultdict(dict)
for line in open(sys.argv[1]):
    if not line.strip():
        continue
    r, mode, q, w, e, u, s, m = line.split()
    k = (mode, q, int(w))
    wall[k].append(float(e))
    cpu[k].append(float(u) + float(s))
    rss[k].append(int(m) / 1024)
    rounds[r][k] = float(e)

print("| strategy | query | workers | wall | CPU | vs baseline | vs default trigger | peak (median) |")
print("|---|---|---|---|---|---|---|---|")
ORDER = ["baseline", "default", "late5", "acc5", "ret5", "counts", "ptime", "counts-ret"]
QUERIES = ["tumble", "hop", "session"]
for k in sorted(wall, key=lambda k: (k[0] != "baseline", k[2], QUERIES.index(k[1]), ORDER.index(k[0]))):
    mode, q, w = k
    by_base = [rs[k] / rs[("baseline", q, 1)] for rs in rounds.values() if k in rs]
    by_default = [rs[k] / rs[("default", q, w)] for rs in rounds.values() if k in rs and ("default", q, w) in rs]
    vs_default = f"{st.median(by_default):.2f}×" if mode != "baseline" else "–"
    print(
        f"| {mode} | {q} | {w} | {st.median(wall[k]):.2f} s | {st.median(cpu[k]):.2f} s "
        f"| {st.median(by_base):.2f}× | {vs_default} "
        f"| {max(rss[k]):.0f} MB ({st.median(rss[k]):.0f}) |"
    )
