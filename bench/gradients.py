"""Gradient fidelity of every training mode on the delayed-copy task and a simulated line.

Figures only, not pass/fail (method.md §5). Each case is measured at initialisation and after a
short BPTT training, because a fresh GRU forgets within a few steps and then every mode's
gradient looks alike. From the repository root:

    python bench/gradients.py                    # tables on stdout
    python bench/gradients.py --json             # one JSON object per (task, train steps, mode)
    python bench/gradients.py --seeds 0 1 2 --train-steps 0 200
"""

from __future__ import annotations

import argparse
import json
import time

from app.cli.diagnose import DEFAULT_MODES, TASKS, TaskSpec, diagnose, parse_modes

# Sizes per task: the line forecasts a day ahead from four days, the copy task remembers 12 steps.
_SPECS = {
    "delayed-copy": TaskSpec(task="delayed-copy", delay=12, steps=64, hidden=16, batch=16),
    "simulated-line": TaskSpec(task="simulated-line", steps=96, hidden=16, batch=16, horizon=24),
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", choices=TASKS, default=list(TASKS))
    parser.add_argument("--modes", default=DEFAULT_MODES, help="comma-separated modes")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--train-steps", type=int, nargs="+", default=[0, 200])
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    args = parser.parse_args(argv)
    modes = parse_modes(args.modes)

    for task in args.tasks:
        for train_steps in args.train_steps:
            for seed in args.seeds:
                spec = TaskSpec(
                    **{**_SPECS[task].__dict__, "seed": seed, "train_steps": train_steps}
                )
                started = time.perf_counter()
                report = diagnose(spec, modes)
                seconds = time.perf_counter() - started
                if args.json:
                    for result in report.modes:
                        print(
                            json.dumps(
                                {
                                    "task": task,
                                    "train_steps": train_steps,
                                    "seed": seed,
                                    "mode": result.mode,
                                    "overall": result.overall,
                                    "recurrent": result.recurrent,
                                    "norm_ratio": result.norm_ratio,
                                }
                            )
                        )
                else:
                    print(
                        f"\n== {task}: T={spec.steps} H={spec.horizon} hidden={spec.hidden} "
                        f"train_steps={train_steps} seed={seed} ({seconds:.1f} s)"
                    )
                    print(report.format_table())


if __name__ == "__main__":
    main()
