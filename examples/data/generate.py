#!/usr/bin/env python3
"""Generates examples/data/bids.csv: a deterministic stream of auction bids.

    python3 examples/data/generate.py > examples/data/bids.csv

20,000 bids (auction, bidder, price, date_time_ms) over about 10 minutes of event time,
starting 2024-01-01T00:00:00Z, mostly in order: about 1 in 200 bids arrives up to 4 s
late (some beyond the default 2 s out-of-orderness bound), and three lines are
deliberately malformed (a missing field, a non-numeric time, a non-numeric price) so that
the dead-letter output has something to show. Standard library only; the same file on
every run.
"""

import random
import sys

START_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z
ROWS = 20_000
AUCTIONS = 50


def main() -> None:
    rng = random.Random(20240101)
    out = sys.stdout
    out.write("auction,bidder,price,date_time_ms\n")
    t = START_MS
    malformed_at = {5_000: "missing", 10_000: "time", 15_000: "price"}
    for i in range(ROWS):
        t += rng.randint(0, 60)
        auction = 1000 + int(rng.paretovariate(1.2)) % AUCTIONS
        bidder = rng.randint(1, 500)
        price = rng.randint(1, 1000) * (1 + auction % 7)
        ts = t
        if rng.random() < 0.005:
            ts = t - rng.randint(500, 4_000)
        kind = malformed_at.get(i)
        if kind == "missing":
            out.write(f"{auction},{bidder},{price}\n")
        elif kind == "time":
            out.write(f"{auction},{bidder},{price},yesterday\n")
        elif kind == "price":
            out.write(f"{auction},{bidder},cheap,{ts}\n")
        else:
            out.write(f"{auction},{bidder},{price},{ts}\n")


if __name__ == "__main__":
    main()
