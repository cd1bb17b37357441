"""Step ``monitor``: measure published runs on the order lines that came after them.

For each accepted run under ``<outputs>/runs/`` (or the one asked for) the step reads its tables
and manifest, takes its data end (the manifest's ``data_end``; for runs published before that
field existed: the newest ``date_max`` of its order-line input fingerprints, else the tables'
``today`` - 1 day) and measures it (``xsell.monitor.uptake``) on the workdir's canonical order
lines. A run is measured when order lines dated after its data end exist and it was not yet
measured on all of them (a window still filling up is measured again the next time). It writes,
each file atomically:

    <outputs>/monitoring/<run_id>/uptake.csv          run_id, table, country, kind, source,
                                                      rank_bucket, metric, value (the contract)
    <outputs>/monitoring/<run_id>/link_uptake.csv     uptake per cross-/up-sell link (links review)
    <outputs>/monitoring/<run_id>/uptake_by_rank.png  suggestions vs popularity counterfactual
    <outputs>/monitoring/<run_id>/summary.json        the totals; written last
    <outputs>/monitoring/uptake_over_runs.csv / .png  the newest ``monitor.trend_runs`` runs

and, with MLflow enabled, one MLflow run per measured run in the experiment, tagged with the
run's registered model version (which gets the newest uptake as tags in return). A run without
later order lines is reported ("nothing to measure yet") and is not an error.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from xsell.config import Config
from xsell.io.layout import Workdir
from xsell.io.readers import read_canonical
from xsell.io.writers import atomic_write, read_state, remove_leftovers, write_csv, write_json
from xsell.lock import RunLock
from xsell.monitor.uptake import COUNTERFACTUAL, SUGGESTIONS, Measurement, history_of, measure, measurement_window
from xsell.progress import stage
from xsell.publish.manifest import MANIFEST_NAME
from xsell.publish.writers import read_run_table
from xsell.recommend.context import build_context
from xsell.schema import MODEL_LINE_COLUMNS, TABLES

log = logging.getLogger(__name__)

MONITORING = "monitoring"
UPTAKE_FILE = "uptake.csv"
LINK_UPTAKE_FILE = "link_uptake.csv"
SUMMARY_FILE = "summary.json"
BY_RANK_PLOT = "uptake_by_rank.png"
TREND_FILE = "uptake_over_runs.csv"
TREND_PLOT = "uptake_over_runs.png"
MEASURED, NO_LATER_DATA, UP_TO_DATE = "measured", "no later data", "up to date"


@dataclass(frozen=True)
class RunStatus:
    """What the step did with one published run."""

    run_id: str
    status: str
    """``measured``, ``no later data`` or ``up to date``."""
    message: str
    summary: dict[str, Any] | None = None
    folder: Path | None = None


@dataclass(frozen=True)
class MonitorResult:
    """Every run looked at, oldest first (without published runs: one status with an empty
    ``run_id`` saying so)."""

    runs: list[RunStatus] = field(default_factory=list)

    @property
    def measured(self) -> list[RunStatus]:
        return [r for r in self.runs if r.status == MEASURED]

    @property
    def counts(self) -> dict[str, Any]:
        """For the stage's end line."""
        counts: dict[str, Any] = {"runs": sum(1 for r in self.runs if r.run_id), "measured": len(self.measured)}
        if self.measured:
            newest = self.measured[-1].summary or {}
            uptake, base = newest[SUGGESTIONS]["uptake"], newest[COUNTERFACTUAL]["uptake"]
            counts["uptake"] = "n/a" if uptake is None else f"{uptake:.2%}"
            counts["popularity"] = "n/a" if base is None else f"{base:.2%}"
        return counts


def monitoring_dir(outputs: Path) -> Path:
    return Path(outputs) / MONITORING


# -- reading a published run -----------------------------------------------------------------
def _manifest(run_dir: Path) -> dict[str, Any] | None:
    manifest = read_state(run_dir / MANIFEST_NAME, "manifest")
    return manifest if isinstance(manifest, dict) else None


def data_end_of(manifest: dict[str, Any]) -> pd.Timestamp | None:
    """Last order date of the history a published run was computed from (see module docstring)."""
    if manifest.get("data_end"):
        return pd.Timestamp(manifest["data_end"])
    ends = [f.get("date_max") for f in manifest.get("input_fingerprints") or [] if isinstance(f, dict) and f.get("date_max")]
    if ends:
        return max(pd.Timestamp(e) for e in ends).normalize()
    today = (manifest.get("tables_meta") or {}).get("today")
    return pd.Timestamp(today) - pd.Timedelta(days=1) if today else None


def _runs_to_look_at(cfg: Config, run_id: str | None) -> list[str]:
    from xsell.steps.publish import _resolve_run, list_runs

    runs_dir = Path(cfg.publish.outputs) / "runs"
    if run_id is not None:
        return [_resolve_run(cfg, run_id)[0]]
    accepted = []
    for name in list_runs(runs_dir):
        manifest = _manifest(runs_dir / name)
        if manifest is not None and manifest.get("status") == "accepted":
            accepted.append(name)
    return accepted


def _previous(folder: Path) -> dict[str, Any] | None:
    summary = read_state(folder / SUMMARY_FILE, "monitoring summary")
    return summary if isinstance(summary, dict) else None


# -- the step --------------------------------------------------------------------------------
def run_monitor(cfg: Config, run_id: str | None = None) -> MonitorResult:
    """Measure ``run_id`` (again, if it was measured before), or every accepted run with order
    lines not yet measured. Raises ``UsageError`` (exit 2) for an unknown ``run_id``; a run
    without later order lines is reported in the result, not raised."""
    outputs = Path(cfg.publish.outputs)
    wd = Workdir(cfg.workdir)
    root = monitoring_dir(outputs)
    statuses: list[RunStatus] = []
    with stage("monitor", log) as report:
        runs = _runs_to_look_at(cfg, run_id)
        if not runs:
            message = f"monitor: no published run in {outputs / 'runs'}; nothing to measure"
            log.info(message)
            result = MonitorResult([RunStatus("", NO_LATER_DATA, message)])
            report.counts.update(result.counts)
            return result
        dates = read_canonical(wd.order_lines, columns=["order_date"])
        assert dates is not None  # required=True raises when missing
        newest = dates["order_date"].max() if len(dates) else None
        del dates

        @functools.cache
        def inputs() -> tuple[pd.DataFrame, pd.DataFrame | None, pd.DataFrame | None]:
            """The lines (without texts and provenance) and the masters, read when a run is measured."""
            lines = read_canonical(wd.order_lines, columns=list(MODEL_LINE_COLUMNS))
            assert lines is not None
            return lines, read_canonical(wd.customers, required=False), read_canonical(wd.products, required=False)

        with RunLock(outputs / ".monitor.lock", what="monitor"):
            for name in runs:
                statuses.append(_look_at(cfg, name, inputs, newest, force=run_id is not None))
            if any(s.status == MEASURED for s in statuses):
                _write_trend(root, cfg.monitor.trend_runs)
        result = MonitorResult(statuses)
        report.counts.update(result.counts)
    return result


def _look_at(
    cfg: Config, run_id: str, inputs: Callable[[], tuple[pd.DataFrame, pd.DataFrame | None, pd.DataFrame | None]],
    newest: Any, *, force: bool,
) -> RunStatus:
    """Measure one run; ``inputs`` gives the order lines, customers and products (read on the
    first call: nothing is read when no run has later order lines)."""
    run_dir = Path(cfg.publish.outputs) / "runs" / run_id
    folder = monitoring_dir(cfg.publish.outputs) / run_id
    manifest = _manifest(run_dir) or {}
    data_end = data_end_of(manifest)
    if data_end is None:
        message = f"monitor: run {run_id}: its manifest names no data end (no data_end, input date ranges or today); not measured"
        log.warning(message)
        return RunStatus(run_id, NO_LATER_DATA, message)
    window = measurement_window(data_end, newest, cfg.monitor.window_days)
    if window is None:
        newest_text = "none" if newest is None or pd.isna(newest) else str(pd.Timestamp(newest).date())
        message = f"monitor: run {run_id}: no order lines after its data end {data_end.date()} yet (newest order {newest_text}); nothing to measure"
        log.info(message)
        return RunStatus(run_id, NO_LATER_DATA, message)
    before = _previous(folder)
    if not force and before is not None and before.get("window_days") == window.days and pd.Timestamp(before["observed_until"]) >= window.observed_until:
        message = f"monitor: run {run_id}: already measured up to {before['observed_until']}"
        log.info(message)
        return RunStatus(run_id, UP_TO_DATE, message, before, folder)
    tables = {name: t for name in TABLES if (t := read_run_table(run_dir, name)) is not None}
    if not tables:
        message = f"monitor: run {run_id}: no tables in {run_dir}; not measured"
        log.warning(message)
        return RunStatus(run_id, NO_LATER_DATA, message)
    today = (manifest.get("tables_meta") or {}).get("today")
    lines, customers, products = inputs()
    history = history_of(lines, window)
    ctx = build_context(
        history, products, cfg.recommend, pd.Timestamp(today) if today else window.data_end + pd.Timedelta(days=1),
        block_ids=_block_ids(cfg),
    )  # fmt: skip
    with stage(f"monitor: {run_id}", log) as report:
        measured = measure(run_id, tables, lines, customers, ctx, cfg.recommend, window)
        summary = {**measured.summary(), "measured_with": {"workdir": str(cfg.workdir), "newest_order": str(pd.Timestamp(newest).date())}}
        _write_measurement(folder, measured, summary)
        report.counts.update(rows=len(measured.uptake), days=window.days_observed)
    if cfg.mlflow.enabled:
        summary["mlflow_run_id"] = _track(cfg, manifest, measured, summary, folder)
        write_json(summary, folder / SUMMARY_FILE)
    message = describe(summary, folder)
    log.info(message)
    return RunStatus(run_id, MEASURED, message, summary, folder)


def _block_ids(cfg: Config) -> frozenset[str]:
    from xsell.steps.recommend import read_block_list

    return read_block_list(cfg.recommend.block_list)


def describe(summary: dict[str, Any], folder: Path | None = None) -> str:
    """One line: what a measurement found."""

    def pct(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.2%}"

    s, c = summary[SUGGESTIONS], summary[COUNTERFACTUAL]
    lift = summary.get("lift_over_popularity")
    parts = [
        f"monitor: run {summary['run_id']} (data end {summary['data_end']}, {summary['days_observed']} of {summary['window_days']} days observed):",
        f"{int(s['bought'] or 0):,} of {int(s['suggested'] or 0):,} suggestions bought ({pct(s['uptake'])}, revenue {s['revenue'] or 0:,.0f});",
        f"popularity would have had {pct(c['uptake'])}" + ("" if lift is None else f" (lift {lift:.2f}x)") + ";",
        f"cross_sell links {pct(summary['cross_sell']['uptake'])}, up_sell links {pct(summary['up_sell']['uptake'])}",
    ]
    return " ".join(parts) + (f" -> {folder / UPTAKE_FILE}" if folder is not None else "")


# -- writing ---------------------------------------------------------------------------------
def _write_measurement(folder: Path, measured: Measurement, summary: dict[str, Any]) -> None:
    from xsell.io.plots import plot_uptake_by_rank

    folder.mkdir(parents=True, exist_ok=True)
    remove_leftovers(folder)
    write_csv(measured.uptake, folder / UPTAKE_FILE)
    write_csv(measured.links, folder / LINK_UPTAKE_FILE)
    if len(measured.by_rank):
        title = f"run {measured.run_id}: {measured.window.days_observed} days after {measured.window.data_end.date()}"
        atomic_write(folder / BY_RANK_PLOT, lambda p: plot_uptake_by_rank(measured.by_rank, p, title=title))
    write_json(summary, folder / SUMMARY_FILE)


def read_trend(root: Path, n: int | None = None) -> pd.DataFrame:
    """One row per measured run (``summary.json`` of ``<outputs>/monitoring/*``), oldest data
    end first, the newest ``n`` of them: ``run_id, data_end, days_observed, complete, suggested,
    bought, uptake, revenue, popularity_uptake, lift_over_popularity``."""
    rows = []
    for path in sorted(Path(root).glob(f"*/{SUMMARY_FILE}")):
        s = read_state(path, "monitoring summary")
        if not isinstance(s, dict) or SUGGESTIONS not in s:
            continue
        rows.append(
            {
                "run_id": s["run_id"], "data_end": s["data_end"], "days_observed": s["days_observed"], "complete": s["complete"],
                **{k: s[SUGGESTIONS].get(k) for k in ("suggested", "bought", "uptake", "revenue")},
                "popularity_uptake": s[COUNTERFACTUAL].get("uptake"), "lift_over_popularity": s.get("lift_over_popularity"),
            }
        )  # fmt: skip
    trend = pd.DataFrame(rows, columns=["run_id", "data_end", "days_observed", "complete", "suggested", "bought", "uptake", "revenue", "popularity_uptake", "lift_over_popularity"])
    trend = trend.sort_values(["data_end", "run_id"], kind="stable").reset_index(drop=True)
    return trend.tail(n).reset_index(drop=True) if n is not None else trend


def _write_trend(root: Path, n: int) -> None:
    from xsell.io.plots import plot_uptake_over_runs

    trend = read_trend(root, n)
    write_csv(trend, root / TREND_FILE)
    atomic_write(root / TREND_PLOT, lambda p: plot_uptake_over_runs(trend, p))


# -- MLflow ----------------------------------------------------------------------------------
def _track(cfg: Config, manifest: dict[str, Any], measured: Measurement, summary: dict[str, Any], folder: Path) -> str:
    """One MLflow run in the experiment: the totals and per-country uptake as metrics, the files as
    artifacts, tags naming the published run and its model version (which is tagged back)."""
    from xsell.tracking import Tracker, metric_key, tag_model_version

    name, version = manifest.get("model_name"), manifest.get("model_version")
    tags = {
        "xsell.step": "monitor",
        "xsell.published_run": measured.run_id,
        "xsell.registered_model": name or "",
        "xsell.model_version": version or "",
        "xsell.model_run_id": manifest.get("mlflow_run_id") or "",
    }
    u = measured.uptake
    totals = u[(u["kind"] == "ALL") & (u["rank_bucket"] == "ALL") & (u["source"].isin(["ALL", COUNTERFACTUAL]))]
    metrics = {
        metric_key(table if source == "ALL" else source, metric, 0, country): value
        for table, source, country, metric, value in zip(totals["table"], totals["source"], totals["country"], totals["metric"], totals["value"])
    }
    if summary.get("lift_over_popularity") is not None:
        metrics["lift_over_popularity"] = summary["lift_over_popularity"]
    tracker = Tracker(cfg.tracking_uri, cfg.mlflow.experiment, artifact_location=cfg.mlflow.artifact_location)
    with tracker.run(f"monitor {measured.run_id}", tags=tags) as mlflow_run:
        tracker.log_params(
            {k: summary[k] for k in ("run_id", "data_end", "window_days", "observed_until", "days_observed", "complete")}
        )
        tracker.log_metric_values(metrics)
        tracker.log_artifact(folder, "monitoring")
    if name and version:
        uptake = summary[SUGGESTIONS]["uptake"]
        tag_model_version(
            cfg.tracking_uri, name, str(version),
            {
                "xsell.monitor.mlflow_run": mlflow_run, "xsell.monitor.published_run": measured.run_id,
                "xsell.monitor.uptake": "" if uptake is None else repr(uptake),
                "xsell.monitor.lift_over_popularity": repr(summary.get("lift_over_popularity")),
            },
        )  # fmt: skip
    return mlflow_run


# -- what other steps read -------------------------------------------------------------------
def monitoring_for_manifest(outputs: Path, n: int) -> dict[str, Any] | None:
    """``monitoring`` of a new run's manifest: the newest measurement (by data end) and the trend
    of the newest ``n``; None when nothing was measured yet."""
    root = monitoring_dir(outputs)
    trend = read_trend(root, n)
    if trend.empty:
        return None
    newest = read_state(root / str(trend["run_id"].iloc[-1]) / SUMMARY_FILE, "monitoring summary")
    rows = json.loads(trend.to_json(orient="records"))
    return {"latest": newest, "trend": rows, "folder": str(root)}


def read_link_uptake(outputs: Path) -> tuple[str, pd.DataFrame] | None:
    """(run id, ``link_uptake.csv``) of the newest measured run whose window is complete, else
    of the newest measured run; None when nothing was measured yet."""
    root = monitoring_dir(outputs)
    trend = read_trend(root)
    if trend.empty:
        return None
    complete = trend[trend["complete"].astype(bool)]
    run_id = str((complete if len(complete) else trend)["run_id"].iloc[-1])
    path = root / run_id / LINK_UPTAKE_FILE
    if not path.is_file():
        return None
    return run_id, pd.read_csv(path, dtype={"kind": str, "product_id": str, "rec_product_id": str}, keep_default_na=False, na_values=[""])
