"""``xsell`` command line. The only place that turns errors into exit codes.

Exit codes: 0 success, 2 usage or config error, 3 input data rejected, 4 quality gate
refused to publish, 1 anything unexpected.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from xsell import __version__
from xsell.errors import UsageError, XsellError

log = logging.getLogger("xsell")


class _Parser(argparse.ArgumentParser):
    """argparse that raises ``UsageError`` (exit 2 with one line) instead of exiting."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def _global_options(defaults: bool) -> argparse.ArgumentParser:
    """``--verbose`` / ``--quiet``, accepted before and after the command (cron lines end in
    ``-q``). The top-level parser sets the defaults; the commands' copies only set what is given."""
    p = argparse.ArgumentParser(add_help=False)
    default = False if defaults else argparse.SUPPRESS
    p.add_argument("--verbose", "-v", action="store_true", default=default, help="debug logging and full tracebacks")
    p.add_argument("--quiet", "-q", action="store_true", default=default, help="warnings and errors only")
    return p


def _example(text: str) -> str:
    return "example:\n" + textwrap.indent(textwrap.dedent(text).strip(), "  ")


def _add_config(p: argparse.ArgumentParser, required: bool = True) -> None:
    p.add_argument("--config", "-c", required=required, type=Path, help="YAML config file")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, e.g. --set models.als.factors=32 (repeatable)",
    )


def _load(args: argparse.Namespace):
    from xsell.config import load_config
    from xsell.io.layout import check_folders

    cfg = load_config(args.config, args.overrides)
    check_folders(cfg)
    return cfg


# -- handlers ------------------------------------------------------------------------------
def _cmd_demo_data(args: argparse.Namespace) -> int:
    from xsell.demo.generate import write_demo_data

    write_demo_data(args.out, scale=args.scale, seed=args.seed)
    return 0


def _cmd_ingest(args: argparse.Namespace) -> int:
    cfg = _load(args)
    from xsell.steps.ingest import run_ingest

    run_ingest(cfg)
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    cfg = _load(args)
    from xsell.steps.train import run_train

    run_train(cfg)
    return 0


def _cmd_rules(args: argparse.Namespace) -> int:
    from xsell.steps.rules import export_rules

    export_rules(_load(args), args.out)
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    cfg = _load(args)
    from xsell.steps.evaluate import run_evaluate

    run_evaluate(cfg)
    return 0


def _cmd_recommend(args: argparse.Namespace) -> int:
    cfg = _load(args)
    from xsell.steps.recommend import run_recommend

    run_recommend(cfg)
    return 0


def _cmd_links_review(args: argparse.Namespace) -> int:
    cfg = _load(args)
    from xsell.steps.recommend import export_links_review

    export_links_review(cfg, args.out)
    return 0


def _cmd_publish(args: argparse.Namespace) -> int:
    from xsell.steps import publish as step

    cfg = _load(args)
    if args.action == "verify":
        return step.verify(cfg, args.run)
    if args.action == "diff":
        if not args.runs or len(args.runs) != 2:
            raise UsageError("xsell publish diff needs two run ids: RUN_A RUN_B")
        return step.diff(cfg, args.runs[0], args.runs[1], out=args.out)
    if args.out is not None:
        raise UsageError("--out belongs to `xsell publish diff`")
    result = step.run_publish(cfg)
    print(f"published run {result.run_id} ({result.files} files): {result.run_dir}")
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    cfg = _load(args)
    from xsell.steps.serve import serve

    return serve(cfg, args.port)


def _cmd_monitor(args: argparse.Namespace) -> int:
    cfg = _load(args)
    from xsell.steps.monitor import run_monitor

    for run in run_monitor(cfg, args.run).runs:
        print(run.message.removeprefix("monitor: "))
    return 0


def _cmd_config(args: argparse.Namespace) -> int:
    import json

    from xsell.config import ALLOWED, reference

    if args.config_action == "show":
        if args.config is None:
            raise UsageError("xsell config show needs --config FILE")
        print(json.dumps(_load(args).model_dump(mode="json"), indent=2))
        return 0
    for key, default, doc in reference():
        print(f"{key} = {default}" if default else f"{key}:")
        text, _, allowed = doc.partition(ALLOWED)
        if text:
            print(textwrap.indent(textwrap.fill(text, 88), "    "))
        if allowed:
            print(textwrap.indent(textwrap.fill(f"allowed:{allowed}", 88), "    "))
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from xsell.pipeline import run_pipeline
    from xsell.stages import STAGES

    ctx = run_pipeline(args.pipeline, args.config, args.overrides, stages=STAGES, force=args.force)
    print(run_summary(ctx))
    return 0


def run_summary(ctx: Any) -> str:
    """What a person running ``make demo`` or reading a cron mail wants to know: where the output
    is, which champion made it and how it did against popularity (``champion.json``)."""
    from xsell.io.readers import read_champion

    cfg, v = ctx.cfg, ctx.values
    lines = [f"xsell {ctx.pipeline}: done"]
    if "published_dir" in v:
        run = Path(v["published_dir"])
        lines.append(f"  published run:   {run}")
        lines.append(f"  latest:          {Path(cfg.publish.outputs) / 'latest'}")
        if (run / "sales").is_dir():
            lines.append(f"  sales:           {run / 'sales'}/  (one workbook per country, for sales ops)")
        if (run / "shop").is_dir():
            shop = ", ".join(sorted(p.name for p in (run / "shop").iterdir() if p.is_file())[:4])
            lines.append(f"  shop:            {run / 'shop'}/  ({shop})")
    if "tables" in v:
        lines.append(f"  tables:          {ctx.workdir.tables}")
    if v.get("monitored"):
        lines.append(f"  uptake:          {len(v['monitored'])} published run(s) measured in {Path(cfg.publish.outputs) / 'monitoring'}/")
    if "model_version" in v:
        lines.append(f"  champion:        {v.get('model_name')} v{v['model_version']} ({v.get('champion_model')})")
    champion = read_champion(cfg.workdir)
    if champion is not None and ctx.pipeline in ("retrain", "backtest"):
        lines.append(f"  evaluation:      {champion.get('summary', '')}")
        if champion.get("popularity_won"):
            lines.append("                   learned models did not beat popularity on this data; the best sellers are published")
    uri = cfg.tracking_uri
    if uri.startswith("sqlite:///"):
        beside = Path(sys.executable).parent / "mlflow"  # the venv's mlflow, if not on PATH
        mlflow = "mlflow" if shutil.which("mlflow") or not beside.exists() else str(beside)
        lines.append(f"  MLflow UI:       {mlflow} ui --backend-store-uri {uri}")
    if ctx.pipeline == "retrain" and "published_dir" in v and cfg.source is not None:
        lines.append(f"  next:            schedule `xsell run nightly --config {cfg.source}` (README: Pipelines and scheduling)")
    return "\n".join(lines)


# -- parser --------------------------------------------------------------------------------
def _parser_demo_data(sub: Any, fmt: type[argparse.HelpFormatter], common: list[argparse.ArgumentParser]) -> None:
    """``xsell demo-data``."""
    p = sub.add_parser(
        "demo-data",
        parents=common,
        help="write a deterministic synthetic B2B order history",
        description="Write a synthetic manufacturer ERP export (order lines, product and customer "
        "masters, planted relationships) so demo, tests and benchmarks need no external data.",
        formatter_class=fmt,
        epilog=_example("xsell demo-data --out demo-data --scale small --seed 42"),
    )
    p.add_argument("--out", required=True, type=Path, help="output folder")
    p.add_argument("--scale", default="small", choices=["tiny", "small", "medium", "large"], help="size (default small, ~100k lines)")
    p.add_argument("--seed", default=42, type=int, help="random seed (default 42)")
    p.set_defaults(func=_cmd_demo_data)


def _parser_ingest(sub: Any, fmt: type[argparse.HelpFormatter], common: list[argparse.ArgumentParser]) -> None:
    """``xsell ingest``."""
    p = sub.add_parser(
        "ingest",
        parents=common,
        help="validate ERP order lines into canonical Parquet tables",
        description="Read order lines (+ optional product/customer masters), map columns, apply the "
        "cleaning rules, write canonical Parquet tables, a quarantine file and ingest_summary.json "
        "into the workdir.",
        formatter_class=fmt,
        epilog=_example("xsell ingest --config configs/demo.yaml"),
    )
    _add_config(p)
    p.set_defaults(func=_cmd_ingest)


def _parser_train(sub: Any, fmt: type[argparse.HelpFormatter], common: list[argparse.ArgumentParser]) -> None:
    """``xsell train``."""
    p = sub.add_parser(
        "train",
        parents=common,
        help="train the configured models on the ingested history",
        description="Build interaction matrices and train the configured models on the whole "
        "ingested history; save them under <models.dir>/<run>/.",
        formatter_class=fmt,
        epilog=_example("xsell train --config configs/demo.yaml --set models.als.factors=32"),
    )
    _add_config(p)
    p.set_defaults(func=_cmd_train)


def _parser_rules(sub: Any, fmt: type[argparse.HelpFormatter], common: list[argparse.ArgumentParser]) -> None:
    """``xsell rules``."""
    p = sub.add_parser(
        "rules",
        parents=common,
        help="export pairwise association rules as CSV",
        description="Compute product-level pairwise association rules and write them as CSV with "
        "columns antecedent, consequent, count, support, confidence, lift, leverage, conviction.",
        formatter_class=fmt,
        epilog=_example("xsell rules --config configs/demo.yaml --out rules.csv"),
    )
    _add_config(p)
    p.add_argument("--out", required=True, type=Path, help="CSV file to write")
    p.set_defaults(func=_cmd_rules)


def _parser_evaluate(sub: Any, fmt: type[argparse.HelpFormatter], common: list[argparse.ArgumentParser]) -> None:
    """``xsell evaluate``."""
    p = sub.add_parser(
        "evaluate",
        parents=common,
        help="temporal backtest of every model against the baselines",
        description="Retrain each configured model on the history before the cutoff, score the test "
        "window, print models x metrics and write <workdir>/evaluation/metrics.csv.",
        formatter_class=fmt,
        epilog=_example("xsell evaluate --config configs/demo.yaml --set evaluation.test_days=60"),
    )
    _add_config(p)
    p.set_defaults(func=_cmd_evaluate)


def _parser_recommend(sub: Any, fmt: type[argparse.HelpFormatter], common: list[argparse.ArgumentParser]) -> None:
    """``xsell recommend``."""
    p = sub.add_parser(
        "recommend",
        parents=common,
        help="write the cross-sell, up-sell and buying-center tables",
        description="Turn trained models into <workdir>/tables/cross_sell.parquet, up_sell.parquet "
        "and buying_center_suggestions.parquet, applying the business rules.",
        formatter_class=fmt,
        epilog=_example("xsell recommend --config configs/demo.yaml"),
    )
    _add_config(p)
    p.set_defaults(func=_cmd_recommend)


def _parser_links(sub: Any, fmt: type[argparse.HelpFormatter], common: list[argparse.ArgumentParser]) -> None:
    """``xsell links``."""
    p = sub.add_parser(
        "links",
        parents=common,
        help="product-link knowledge base tools",
        description="Tools for the curated product-link knowledge base.",
        formatter_class=fmt,
        epilog=_example("xsell links review --config configs/demo.yaml --out links_review.csv"),
    )
    links_sub = p.add_subparsers(dest="links_command", metavar="ACTION", parser_class=_Parser, required=True)
    q = links_sub.add_parser(
        "review",
        parents=common,
        help="export learned links with evidence for product managers",
        description="Export the learned cross-/up-sell links with their evidence as a CSV that product "
        "managers mark pin/block and feed back as curated_links.csv.",
        formatter_class=fmt,
        epilog=_example("xsell links review --config configs/demo.yaml --out links_review.csv"),
    )
    _add_config(q)
    q.add_argument("--out", required=True, type=Path, help="CSV file to write")
    q.set_defaults(func=_cmd_links_review)


def _parser_publish(sub: Any, fmt: type[argparse.HelpFormatter], common: list[argparse.ArgumentParser]) -> None:
    """``xsell publish``."""
    p = sub.add_parser(
        "publish",
        parents=common,
        help="publish the tables as a versioned run (or verify / diff runs)",
        description="publish: write <outputs>/runs/<run_id>/ atomically, check guardrails, move latest.\n"
        "publish verify [RUN]: re-check a published run (default latest) against its manifest.\n"
        "publish diff RUN_A RUN_B [--out FILE]: links added, dropped and moved between two runs.",
        formatter_class=fmt,
        epilog=_example(
            """
            xsell publish --config configs/demo.yaml
            xsell publish verify --config configs/demo.yaml
            xsell publish diff 20261127T010203Z-1a2b3c4 20261128T010203Z-5d6e7f8 --config configs/demo.yaml --out diff.csv
            """
        ),
    )
    p.add_argument("action", nargs="?", choices=["verify", "diff"], help="verify or diff (default: publish)")
    p.add_argument("runs", nargs="*", metavar="RUN", help="run id(s) for verify / diff")
    _add_config(p)
    p.add_argument("--out", type=Path, help="publish diff: also write every changed link as CSV to this file")
    p.set_defaults(func=_cmd_publish)


def _parser_serve(sub: Any, fmt: type[argparse.HelpFormatter], common: list[argparse.ArgumentParser]) -> None:
    """``xsell serve``."""
    p = sub.add_parser(
        "serve",
        parents=common,
        help="serve the published call-list pages on 127.0.0.1",
        description="Serve <publish.outputs> read-only on 127.0.0.1 with Python's http.server and print the "
        "address of the latest run's pages (<outputs>/latest/site/index.html), until Ctrl+C. The pages "
        "also work opened from disk; this is a convenience.",
        formatter_class=fmt,
        epilog=_example("xsell serve --config configs/demo.yaml --port 8000"),
    )
    _add_config(p)
    p.add_argument("--port", type=int, default=8000, help="TCP port on 127.0.0.1 (default 8000; 0 picks a free one)")
    p.set_defaults(func=_cmd_serve)


def _parser_config(sub: Any, fmt: type[argparse.HelpFormatter], common: list[argparse.ArgumentParser]) -> None:
    """``xsell config``."""
    p = sub.add_parser(
        "monitor",
        parents=common,
        help="measure what buying centers bought after a published run (uptake vs popularity)",
        description="Measure published runs on the order lines dated after their data end, within\n"
        "monitor.window_days (default 90): suggested products bought, revenue and days to the first\n"
        "purchase per country, kind, source and rank bucket, against a popularity counterfactual, and\n"
        "the uptake of the cross-/up-sell links. Writes <outputs>/monitoring/<run_id>/uptake.csv and\n"
        "plots, and an MLflow run. Default: every accepted run with order lines not measured yet; a\n"
        "run without later order lines is reported, not an error (exit 0).",
        formatter_class=fmt,
        epilog=_example(
            """
            xsell monitor --config configs/demo.yaml
            xsell monitor --config configs/demo.yaml --run 20261127T010203Z-1a2b3c4 --set monitor.window_days=30
            """
        ),
    )
    _add_config(p)
    p.add_argument("--run", metavar="RUN_ID", help="the published run to measure (latest: the one latest points to), again if it was measured before")
    p.set_defaults(func=_cmd_monitor)

    p = sub.add_parser(
        "config",
        parents=common,
        help="print the config reference or a resolved config",
        description="config reference: every key with its default, meaning and allowed values (from the typed config).\n"
        "config show --config FILE: the resolved config (defaults filled in, paths absolute).",
        formatter_class=fmt,
        epilog=_example(
            """
            xsell config reference
            xsell config show --config configs/demo.yaml --set models.als.factors=32
            """
        ),
    )
    p.add_argument("config_action", choices=["reference", "show"], help="what to print")
    _add_config(p, required=False)
    p.set_defaults(func=_cmd_config)


def _parser_run(sub: Any, fmt: type[argparse.HelpFormatter], common: list[argparse.ArgumentParser]) -> None:
    """``xsell run``."""
    p = sub.add_parser(
        "run",
        parents=common,
        help="run a pipeline (nightly, retrain, backtest) end to end",
        description="Run the stages of a pipeline from pipelines/ (or a pipeline YAML path) in order, "
        "with caching, locking and one log line per stage start and end.",
        formatter_class=fmt,
        epilog=_example(
            """
            xsell run retrain --config configs/demo.yaml
            xsell run nightly --config configs/demo.yaml --set publish.keep_runs=5
            """
        ),
    )
    p.add_argument("pipeline", help="pipeline name in pipelines/ (nightly, retrain, backtest) or a YAML path")
    _add_config(p)
    p.add_argument("--force", action="store_true", help="recompute every stage, ignoring caches")
    p.set_defaults(func=_cmd_run)


def build_parser() -> argparse.ArgumentParser:
    fmt = argparse.RawDescriptionHelpFormatter
    parser = _Parser(
        prog="xsell",
        description="Cross-sell and up-sell recommendations for B2B manufacturers from ERP order history.",
        formatter_class=fmt,
        epilog=_example(
            """
            xsell demo-data --out demo-data
            xsell run retrain --config configs/demo.yaml
            """
        ),
        parents=[_global_options(defaults=True)],
    )
    parser.add_argument("--version", action="version", version=f"xsell {__version__}")
    common = [_global_options(defaults=False)]
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for add in (_parser_demo_data, _parser_ingest, _parser_train, _parser_rules, _parser_evaluate, _parser_recommend, _parser_links, _parser_publish, _parser_serve, _parser_config, _parser_run):
        add(sub, fmt, common)
    return parser


def setup_logging(verbose: bool = False, quiet: bool = False) -> None:
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("mlflow", "alembic", "urllib3", "git", "numexpr", "implicit", "matplotlib", "PIL"):
        logging.getLogger(noisy).setLevel(logging.WARNING if not verbose else logging.INFO)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    verbose = "--verbose" in argv or "-v" in argv
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        setup_logging(args.verbose, args.quiet)
        if not getattr(args, "func", None):
            parser.print_help()
            return 2
        if getattr(args, "action", None) is None and getattr(args, "runs", None):
            raise UsageError(f"unknown publish action {args.runs[0]!r} (expected verify or diff)")
        if getattr(args, "action", None) == "verify" and len(args.runs) > 1:
            raise UsageError("xsell publish verify takes at most one run id")
        if getattr(args, "action", None) == "verify":
            args.run = args.runs[0] if args.runs else None
        return int(args.func(args) or 0)
    except XsellError as exc:
        if verbose:
            log.exception("failed")
        print(f"xsell: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:  # e.g. `xsell config reference | head`
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the flush at exit
        return 0
    except KeyboardInterrupt:
        print("xsell: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the one place that maps everything to an exit code
        if verbose:
            log.exception("unexpected error")
        print(f"xsell: unexpected error: {type(exc).__name__}: {exc} (run with --verbose for the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
