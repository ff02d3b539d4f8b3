#!/usr/bin/env python3
"""Holds one bench/run.sh result directory to the gates in bench/gates.toml.

Usage: python3 bench/gates.py RESULTS_DIR [--gates bench/gates.toml]

Prints one line per gate (PASS or FAIL, the figure, the gate) and exits 0
when every gate passes, 1 when one fails or could not be measured from the
results, 2 on bad usage or a bad gates file. It reads only the results
(meta.env and the scenarios' BENCH_RESULT JSON files, through report.py's
readers): the test suite feeds it recorded results
(crates/ops-tests/tests/fixtures/pipelines/bench/), bench/gates.sh a fresh
short run. Standard library only (Python 3.11+ for tomllib).
"""

import argparse
import os
import sys
import tomllib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import report  # noqa: E402  (bench/report.py: the readers and the rounds)


class NotMeasured(Exception):
    """The results lack what a figure needs."""


def ok_rate(result, name):
    """Requests per second that were answered below 400: a scenario whose
    answers turned into fast errors must not look fast."""
    if not result:
        raise NotMeasured(f"no result for {name}")
    requests = result.get("requests") or 0
    if requests <= 0:
        raise NotMeasured(f"{name} answered no request")
    good = requests - (result.get("non2xx") or 0)
    return report.rate(result) * good / requests


def load(out, name):
    return report.read_json(os.path.join(out, name + ".json"))


def read_ratio(out, meta):
    rounds = report.rounds_of(meta)
    ratios = []
    for rnd in range(1, rounds + 1):
        health = ok_rate(load(out, f"health_r{rnd}"), f"health_r{rnd}")
        item = ok_rate(load(out, f"item_get_r{rnd}"), f"item_get_r{rnd}")
        if health <= 0:
            raise NotMeasured(f"health_r{rnd} has no successful answer")
        ratios.append(item / health)
    if not ratios:
        raise NotMeasured("no alternating read rounds (meta.env rounds)")
    return report.median(ratios), "per round " + ", ".join(f"{r:.2f}" for r in ratios)


def movements_per_s(out, meta):
    result = load(out, "movements_spread")
    return ok_rate(result, "movements_spread"), f"{result.get('non2xx', 0)} answers of 400 or more"


def list_ratio(out, meta):
    scenarios = report.list_scenarios(meta)
    if not scenarios:
        raise NotMeasured("no list rounds (a postgres run with list_small and list_large)")
    small, large = meta["list_small"], meta["list_large"]
    worst_per_round = []
    for rnd in range(1, report.rounds_of(meta) + 1):
        worst = 0.0
        for which in ("first", "deep"):
            a = load(out, f"list_{small}_{which}_r{rnd}")
            b = load(out, f"list_{large}_{which}_r{rnd}")
            for name, r in ((f"list_{small}_{which}_r{rnd}", a), (f"list_{large}_{which}_r{rnd}", b)):
                ok_rate(r, name)  # present, and answered
            for q in ("p50", "p99"):
                la, lb = a["latency_us"].get(q), b["latency_us"].get(q)
                if not la or not lb:
                    raise NotMeasured(f"no {q} in list round {rnd} ({which})")
                worst = max(worst, lb / la)
        worst_per_round.append(worst)
    detail = (f"{int(large):,} vs {int(small):,} items, worst per round "
              + ", ".join(f"{w:.2f}" for w in worst_per_round))
    return report.median(worst_per_round), detail


FIGURES = {
    "read_ratio": read_ratio,
    "movements_per_s": movements_per_s,
    "list_ratio": list_ratio,
}


def load_gates(path):
    """The gates of the file, checked: each names a known figure and has
    exactly one of min and max. Raises ValueError."""
    with open(path, "rb") as f:
        gates = tomllib.load(f).get("gate")
    if not gates:
        raise ValueError(f"{path}: no [[gate]]")
    for g in gates:
        name = g.get("name") or "?"
        if g.get("figure") not in FIGURES:
            raise ValueError(f"{path}: gate '{name}': unknown figure {g.get('figure')!r} "
                             f"(known: {', '.join(FIGURES)})")
        bounds = [k for k in ("min", "max") if k in g]
        if len(bounds) != 1 or not isinstance(g[bounds[0]], (int, float)):
            raise ValueError(f"{path}: gate '{name}': give exactly one number, min or max")
    return gates


def evaluate(out, gates):
    """[(passed, line)] for each gate, in the file's order."""
    meta_path = os.path.join(out, "meta.env")
    meta = report.read_env(meta_path) if os.path.exists(meta_path) else {}
    lines = []
    for g in gates:
        bound = "min" if "min" in g else "max"
        limit = g[bound]
        try:
            value, detail = FIGURES[g["figure"]](out, meta)
        except NotMeasured as e:
            lines.append((False, f"FAIL {g['name']}: not measured ({e})"))
            continue
        passed = value >= limit if bound == "min" else value <= limit
        sign = ">=" if bound == "min" else "<="
        lines.append((passed, f"{'PASS' if passed else 'FAIL'} {g['name']}: {g['figure']} "
                              f"{value:,.2f} (gate {sign} {limit:,}; {detail})"))
    return lines


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", help="a bench/run.sh result directory (BENCH_OUT)")
    ap.add_argument("--gates", default=os.path.join(here, "gates.toml"))
    args = ap.parse_args()
    if not os.path.isdir(args.results):
        print(f"error: {args.results} is not a directory", file=sys.stderr)
        return 2
    try:
        gates = load_gates(args.gates)
    except (OSError, ValueError, tomllib.TOMLDecodeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    results = evaluate(args.results, gates)
    for _, line in results:
        print(line)
    failed = sum(1 for passed, _ in results if not passed)
    print(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
