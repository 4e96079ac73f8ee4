"""`linecast analyze`: the preprocessing report of one CSV column (repairs, seasons, tests)."""

from __future__ import annotations

import argparse

from app.cli.common import add_preprocessing_options, load_csv, pipeline_config
from app.errors import UsageError
from preprocessing.pipeline import Pipeline


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "analyze",
        help="report how a CSV column would be preprocessed",
        description=__doc__.splitlines()[0],
    )
    parser.add_argument("--csv", required=True, metavar="PATH", help="input CSV file")
    parser.add_argument("--column", required=True, help="column to analyse")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    add_preprocessing_options(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> None:
    config = pipeline_config(args)
    loaded = load_csv(args.csv, args.column)
    try:
        pipeline = Pipeline(config).fit(loaded.history()[args.column])
    except ValueError as error:
        raise UsageError(str(error)) from error
    report = pipeline.report
    print(report.to_json() if args.json else report.render())
