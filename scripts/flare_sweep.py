"""Flare-linkage sweeps on the simulator's body truth (docs/flares.md section 8).

For each seed, the 14-day body truth of a scenario and its simulated diary go through
``analytics.flares.flare_analysis`` (perfect sitting detection; the recording-level sweeps are
tests/test_flares_acceptance.py). Prints, per alpha, how many seeds meet issue 5's criteria:
flare-fortnight, the tolerance within 5 min and the left side named; no-dose-response, no link.

    .venv/bin/python scripts/flare_sweep.py --seeds 1-40 --alpha 0.05 0.02 0.01
    .venv/bin/python scripts/flare_sweep.py --scenario no-dose-response --seeds 2 5 --diaries 400

``--diaries N`` keeps one seed's days and draws N other random diaries for them (the diary seed
runs from 10000): the false-link rate of those very days.
"""

from __future__ import annotations

import argparse

from analytics.flares import DiaryEntry, FlareConfig, Timeline, flare_analysis
from firmware_sim.symptoms import SYMPTOM_MODELS, body_truth, simulated_diary, unbroken_bouts
from sitload.simulation import DEFAULT_START_UTC

DAYS = 14


def timeline(scenario: str, seed: int):
    truth = body_truth(scenario, seed, DAYS, DEFAULT_START_UTC)
    sitting = (truth["posture"] == "sitting").to_numpy()
    return truth, Timeline.from_truth(truth, unbroken_bouts(truth["t"].to_numpy(), sitting))


def meets(scenario: str, diary_seed: int, truth, tl, alpha: float) -> bool:
    diary = [DiaryEntry(e.t, e.pain, e.location, e.side, e.tingling, e.note, "simulated")
             for e in simulated_diary(scenario, diary_seed, truth)]
    result = flare_analysis(diary, tl, FlareConfig(alpha=alpha))
    tolerance = SYMPTOM_MODELS[scenario].tolerance_min
    if tolerance is None:
        return not any(e.linked for e in result.exposures)
    return (result.tolerance_min is not None and abs(result.tolerance_min - tolerance) < 5
            and result.loaded_side == "left")


def seed_list(items: list[str]) -> list[int]:
    """'1-40' and '2' items as seeds."""
    out = []
    for item in items:
        lo, _, hi = item.partition("-")
        out += range(int(lo), int(hi or lo) + 1)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scenario", nargs="+", default=["flare-fortnight", "no-dose-response"],
                   choices=sorted(SYMPTOM_MODELS))
    p.add_argument("--seeds", nargs="+", default=["1-20"], help="e.g. 1-40, or 2 5")
    p.add_argument("--alpha", type=float, nargs="+", default=[0.05])
    p.add_argument("--diaries", type=int, help="other diaries on the days of each seed")
    args = p.parse_args()
    seeds = seed_list(args.seeds)
    groups = [(f"seeds {' '.join(args.seeds)}", seeds)] if args.diaries is None else \
        [(f"seed {s}, {args.diaries} diaries", [s]) for s in seeds]
    for scenario in args.scenario:
        for name, group in groups:
            counts, runs = {a: 0 for a in args.alpha}, 0
            for seed in group:
                truth, tl = timeline(scenario, seed)
                for diary_seed in ([seed] if args.diaries is None
                                   else range(10_000, 10_000 + args.diaries)):
                    runs += 1
                    for alpha in args.alpha:
                        counts[alpha] += meets(scenario, diary_seed, truth, tl, alpha)
            for alpha, n in counts.items():
                print(f"{scenario} ({name}), alpha {alpha:g}: criterion met in {n} of {runs}")


if __name__ == "__main__":
    main()
