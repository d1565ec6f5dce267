"""How fast is `Roster.on_duty`? Lookups per second on the shipped township roster.

Run: .venv/bin/python benchmarks/roster.py [--n 200000]

Two baselines are measured in the same run, on the same instants, so the ratios mean the same
on any machine: a plain dict lookup (the floor of any lookup in Python) and the minimal
rotation arithmetic (local time, days since the anchor, modulo: what the first roster did).
The target is >= 100,000 lookups/s for `on_duty` (every role, with the reasons).
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from floodwatch.roster import load_rosters

ROOT = Path(__file__).resolve().parent.parent
ZONE = ZoneInfo("Asia/Shanghai")


def rate(fn: Callable[[datetime], object], instants: list[datetime]) -> float:
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for at in instants:
            fn(at)
        best = min(best, time.perf_counter() - t0)
    return len(instants) / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200_000, help="lookups per measurement")
    args = parser.parse_args()
    roster = load_rosters([ROOT / "rosters" / "township.yaml"], ZONE)
    base = datetime(2026, 1, 1, tzinfo=UTC)
    rng = random.Random(1)
    year = [base + timedelta(seconds=rng.randrange(365 * 86400)) for _ in range(args.n)]
    steady = [base + timedelta(minutes=5 * i) for i in range(args.n)]

    table = {d: ("li.ming",) for d in range(800_000)}

    def dict_lookup(at: datetime) -> object:
        return table[int(at.timestamp()) // 86400 - 20_000]

    rotation = roster.rotation("officer")
    anchor, members, k = rotation.anchor, rotation.members, 2

    def arithmetic(at: datetime) -> object:
        local = at.astimezone(ZONE)
        day = local.date() if local.hour >= 8 else local.date() - timedelta(days=1)
        n = (day - anchor).days
        return tuple(members[(n * k + j) % len(members)] for j in range(k))

    print(
        f"roster: rosters/township.yaml ({len(roster.people)} people, roles {sorted(roster.roles)})"
    )
    print(f"{'instants':<46} {'lookups/s':>12}  {'vs dict':>8}  {'vs arithmetic':>13}")
    for label, instants in (("random, over a year", year), ("every 5 min, in order", steady)):
        floor = rate(dict_lookup, instants)
        minimal = rate(arithmetic, instants)
        duty = rate(roster.on_duty, instants)
        print(f"{'dict lookup (baseline), ' + label:<46} {floor:>12,.0f}")
        print(f"{'rotation arithmetic, ' + label:<46} {minimal:>12,.0f}  {minimal / floor:>8.2f}")
        print(
            f"{'Roster.on_duty, ' + label:<46} {duty:>12,.0f}  {duty / floor:>8.2f}  "
            f"{duty / minimal:>13.2f}"
        )
    print("target: Roster.on_duty >= 100,000 lookups/s")


if __name__ == "__main__":
    main()
