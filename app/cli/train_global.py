"""`linecast train-global`: one GRU for every series of a long-format CSV, data-parallel if asked.

The CSV holds one row per series and time stamp. Each series is preprocessed on its own and one
network learns from all of them (`model.global_model`); `--nproc N` trains it in N local
processes (`model.distributed`), and under torchrun every process it starts runs this module:

    torchrun --nproc_per_node 2 -m app.cli.train_global --csv lines.csv --series-column line \\
        --value-column value --time-column timestamp --horizon 24 --out global.pt

With `--name` instead of a CSV file it trains the service's series of a plant or line, stored
in the database, as `POST /v1/global-models` does (`app.cli.global_database`).

`register(subparsers)` adds the sub-command to the `linecast` command line (`app.cli`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from app.cli.global_database import add_database_arguments, train_from_database
from app.errors import UsageError
from model.config import LineModelConfig, default_of
from model.distributed import Launch, device_kind, rank_device, run_launched, spawn, train_rank
from model.global_model import (
    DEFAULT_EMBEDDING,
    FittedGlobalModel,
    GlobalData,
    GlobalModel,
    GlobalModelConfig,
)
from preprocessing.loading import InputError, read_long_csv, read_table


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train-global",
        help="train one model on every series of a long-format CSV",
        description=__doc__.splitlines()[0],
    )
    add_arguments(parser)
    parser.set_defaults(handler=run)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `train-global`, shared by the sub-command and this module's own main.
    The CSV mode needs `CSV_REQUIRED`; the database mode (`--name`) reads none of them."""
    parser.add_argument("--csv", metavar="PATH", help="long-format CSV file")
    parser.add_argument("--series-column", help="column naming each row's series")
    parser.add_argument("--value-column", help="column of the values to forecast")
    parser.add_argument("--time-column", help="column of the time stamps")
    parser.add_argument(
        "--horizon", type=int, help="steps to forecast (database mode: the service's default)"
    )
    parser.add_argument(
        "--context", type=int, help="steps read per forecast (default: chosen from the data)"
    )
    parser.add_argument(
        "--attributes",
        metavar="PATH",
        help="CSV of static numeric attributes: one row per series, keyed by --series-column",
    )
    parser.add_argument(
        "--embedding",
        type=int,
        default=DEFAULT_EMBEDDING,
        help="numbers in each series' learned vector, 0 for none (default %(default)s)",
    )
    parser.add_argument(
        "--mode",
        default="auto",
        help="auto (dsf), bptt, tbptt:K, ft-bptt, dsf or dsf-adaptive (default auto)",
    )
    for flag, name, help_text in (
        ("--hidden", "hidden", "GRU units per layer"),
        ("--layers", "layers", "stacked GRU layers"),
        ("--epochs", "epochs", "maximum epochs"),
        ("--steps-per-epoch", "steps_per_epoch", "batches per epoch"),
        ("--batch-size", "batch_size", "windows per batch, over all processes"),
        ("--seed", "seed", "random seed"),
    ):
        parser.add_argument(
            flag, type=int, default=default_of(name), help=f"{help_text} (default %(default)s)"
        )
    parser.add_argument(
        "--nproc",
        type=int,
        default=1,
        help="local training processes: one per GPU with CUDA, else CPU processes (default 1)",
    )
    parser.add_argument(
        "--device", default="auto", choices=("auto", "cpu", "cuda"), help="auto: cuda > cpu"
    )
    parser.add_argument("--out", metavar="FILE", help="model file to write")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_database_arguments(parser)


# What the CSV mode cannot do without (argparse's destinations).
CSV_REQUIRED = ("csv", "series_column", "value_column", "time_column", "horizon", "out")


def run(args: argparse.Namespace) -> None:
    """Read, prepare every series in this process, train in the processes asked for, save; or,
    with `--name`, train a scope of the service's series (`train_from_database`)."""
    launch = Launch.from_env()
    if launch is not None and args.nproc != 1:
        raise UsageError("under torchrun, give the process count to torchrun, not --nproc")
    if args.nproc < 1:
        raise UsageError(f"--nproc must be positive, got {args.nproc}")
    if args.name is not None:
        if launch is not None:
            raise UsageError("the database mode starts its own processes (--nproc): no torchrun")
        train_from_database(args)
        return
    missing = [name for name in CSV_REQUIRED if getattr(args, name) is None]
    if missing:
        flags = ", ".join("--" + name.replace("_", "-") for name in missing)
        raise UsageError(f"{flags} required (or --name and --plant/--line for the database)")
    try:
        kind = device_kind(args.device)
        config = _config(args)
        frames = read_long_csv(args.csv, args.series_column, args.value_column, args.time_column)
        attributes = read_table(args.attributes, args.series_column) if args.attributes else None
        device = str(rank_device(kind, launch.local_rank if launch else 0))
        data = GlobalModel(config, device=device).prepare(frames, attributes)
    except (InputError, ValueError) as error:
        raise UsageError(str(error)) from error
    out = Path(args.out)
    progress = not args.quiet
    if launch is not None:
        run_launched(launch, train_rank, (data, out, progress), kind)
        if launch.rank != 0:
            return
    elif args.nproc > 1:
        try:
            spawn(args.nproc, train_rank, (data, out, progress), kind)
        except ValueError as error:
            raise UsageError(str(error)) from error
    else:
        GlobalModel(config, device=device).train(data, progress=progress).save(out)
    print(summary(FittedGlobalModel.load(out, device="cpu"), data))
    print(f"saved {args.out}")


def summary(model: FittedGlobalModel, data: GlobalData) -> str:
    """What was trained on, and how well it validated, as printed lines."""
    report = model.report
    lines = [
        f"{len(model.keys)} series, context {model.context}, horizon {model.horizon}, "
        f"mode {model.config.mode}",
        f"{sum(s.split for s in data.series)} training and "
        f"{sum(len(s.inputs) - s.split for s in data.series)} validation rows",
    ]
    if report is not None:
        lines.append(
            f"validation loss {report.best_validation_loss:.4g} (untrained: "
            f"{report.initial_validation_loss:.4g}), best epoch {report.best_epoch + 1} of "
            f"{len(report.validation_loss)}, {report.steps} steps"
        )
    return "\n".join(lines)


def _config(args: argparse.Namespace) -> GlobalModelConfig:
    line = LineModelConfig(
        horizon=args.horizon,
        context=args.context,
        target=args.value_column,
        mode=args.mode,
        hidden=args.hidden,
        layers=args.layers,
        epochs=args.epochs,
        steps_per_epoch=args.steps_per_epoch,
        batch_size=args.batch_size,
        seed=args.seed,
    )
    return GlobalModelConfig(line, embedding=args.embedding)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m app.cli.train_global` (what torchrun runs): `train-global`'s options, no
    sub-command; exit code 2 and a one-line message for a usage error, as `linecast`."""
    parser = argparse.ArgumentParser(
        prog="app.cli.train_global", description=__doc__.splitlines()[0]
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        run(args)
    except UsageError as error:
        print(f"train-global: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
