"""Records whose open state is known (benches/README.md, "Checkpoint size and restore
time"): `k = i mod K`, `t = t0 + i` ms, so that with hour-long windows every checkpoint
after record K holds exactly K open states.

    python3 benches/checkpoints/open_states.py 2000000 100000 keys100000.jsonl
"""
import sys

n, keys, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
t0 = 1_700_000_000_000
with open(path, "w") as f:
    f.writelines('{"k":"k%d","t":%d,"v":%d}\n' % (i % keys, t0 + i, i % 100) for i in range(n))
