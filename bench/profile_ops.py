#!/usr/bin/env python3
"""Sums a Chrome trace from `bench_core --profile` per operator: self time (the operator's time
minus the operators it called), calls, and the share of all self time, largest first.
Usage: profile_ops.py TRACE.json [--steps N] [--top K]"""
import argparse
import collections
import json


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("trace")
    ap.add_argument("--steps", type=int, default=1, help="steps the trace holds (figures per step)")
    ap.add_argument("--top", type=int, default=25)
    a = ap.parse_args()
    with open(a.trace) as f:
        events = [e for e in json.load(f) if e.get("ph") == "X"]
    by_thread = collections.defaultdict(list)
    for e in events:
        by_thread[e.get("tid", 0)].append(e)
    self_us = collections.Counter()
    calls = collections.Counter()
    for evs in by_thread.values():
        evs.sort(key=lambda e: (e["ts"], -e["dur"]))
        stack = []  # [end, name, child time]
        def close(upto):
            while stack and stack[-1][0] <= upto:
                end, name, child, dur = stack.pop()
                self_us[name] += dur - child
                if stack:
                    stack[-1][2] += dur
        for e in evs:
            close(e["ts"])
            calls[e["name"]] += 1
            stack.append([e["ts"] + e["dur"], e["name"], 0.0, e["dur"]])
        close(float("inf"))
    total = sum(self_us.values())
    print(f"{'operator':40s} {'self ms/step':>12s} {'share':>6s} {'calls/step':>10s}")
    for name, us in self_us.most_common(a.top):
        print(f"{name[:40]:40s} {us / 1000 / a.steps:12.2f} {100 * us / total:5.1f}% "
              f"{calls[name] / a.steps:10.1f}")
    print(f"{'total':40s} {total / 1000 / a.steps:12.2f}")


if __name__ == "__main__":
    main()
