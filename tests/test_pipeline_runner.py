"""The pipeline runner with fake stages (milliseconds): order, hand-over, the cache key derived from
each stage's declared config sections, input files and state, outputs that must exist, --force."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from xsell.config import config_from_dict
from xsell.errors import ConfigError
from xsell.pipeline import RunContext, Stage, load_pipeline, run_pipeline, run_stage


def make_ctx(tmp_path: Path, **raw: Any) -> RunContext:
    cfg = config_from_dict({"workdir": "work", "data": {"order_lines": "lines.csv"}, "mlflow": {"enabled": False}, **raw}, base_dir=tmp_path)
    return RunContext(cfg=cfg, pipeline="test")


class Recorder:
    """Fake stages that write a file, record their calls and hand values on."""

    def __init__(self, tmp_path: Path):
        self.calls: list[str] = []
        self.tmp = tmp_path

    def stage(self, name: str, **declared: Any) -> Stage:
        out = self.tmp / f"{name}.out"

        def run(ctx: RunContext) -> dict[str, Any]:
            self.calls.append(name)
            out.write_text(str(ctx.values.get("token", 0)))
            return {"token": ctx.values.get("token", 0) + 1, "counts": {"seen": ctx.values.get("token", 0)}}

        return Stage(run, writes=lambda ctx, r: [out], **declared)


def test_stages_run_in_order_and_hand_values_on(tmp_path: Path) -> None:
    rec, ctx = Recorder(tmp_path), make_ctx(tmp_path)
    for name in ("a", "b", "c"):
        run_stage(name, rec.stage(name), ctx)
    assert rec.calls == ["a", "b", "c"] and ctx.values["token"] == 3
    assert (tmp_path / "c.out").read_text() == "2"


def test_the_cache_key_follows_the_declared_files_config_and_state(tmp_path: Path) -> None:
    rec = Recorder(tmp_path)
    data = tmp_path / "input.csv"
    data.write_text("v1")
    state = {"champion": 1}
    stage = rec.stage("s", config=("recommend",), reads=lambda ctx: [data, tmp_path / "absent.csv"], state=lambda ctx: dict(state))

    def run(ctx: RunContext) -> None:
        run_stage("s", stage, ctx)

    ctx = make_ctx(tmp_path)
    run(ctx)
    run(make_ctx(tmp_path))  # same inputs: a cache hit, its result handed on
    assert rec.calls == ["s"]
    hit = make_ctx(tmp_path)
    run(hit)
    assert hit.values["token"] == 1
    data.write_text("v2")  # a read file changed
    run(make_ctx(tmp_path))
    assert rec.calls == ["s", "s"]
    run(make_ctx(tmp_path, recommend={"top_n_product": 3}))  # a declared config section changed
    assert rec.calls == ["s", "s", "s"]
    run(make_ctx(tmp_path, recommend={"top_n_product": 3}, publish={"keep_runs": 3}))  # an undeclared one: no rerun
    assert rec.calls == ["s", "s", "s"]
    state["champion"] = 2  # other declared state changed
    run(make_ctx(tmp_path, recommend={"top_n_product": 3}))
    assert len(rec.calls) == 4
    (tmp_path / "absent.csv").write_text("now here")  # a declared file that appears
    run(make_ctx(tmp_path, recommend={"top_n_product": 3}))
    assert len(rec.calls) == 5


def test_a_dataset_folder_is_read_like_a_file(tmp_path: Path) -> None:
    """The Spark backend writes ``order_lines.parquet`` as a folder of part files: a stage that
    reads it reruns when a part changes (same size too) or is added, not for hidden files."""
    rec = Recorder(tmp_path)
    dataset = tmp_path / "lines.parquet"
    dataset.mkdir()
    (dataset / "part-00000.parquet").write_bytes(b"aaaa")
    stage = rec.stage("s", reads=lambda ctx: [dataset])
    run_stage("s", stage, make_ctx(tmp_path))
    (dataset / "._SUCCESS.crc").write_bytes(b"x")  # Spark's checksum files are not data
    run_stage("s", stage, make_ctx(tmp_path))
    assert rec.calls == ["s"]
    (dataset / "part-00000.parquet").write_bytes(b"bbbb")
    run_stage("s", stage, make_ctx(tmp_path))
    (dataset / "part-00001.parquet").write_bytes(b"cc")
    run_stage("s", stage, make_ctx(tmp_path))
    assert rec.calls == ["s", "s", "s"]


def test_the_backend_retrains_but_keeps_the_ingest(tmp_path: Path) -> None:
    """``engine`` is in the train stage's key (Spark's ALS is not implicit's); the ingest's
    outputs are the same on both backends, so switching does not invalidate it."""
    from xsell.stages import STAGES

    local, spark = make_ctx(tmp_path), make_ctx(tmp_path, engine={"backend": "spark"})
    assert STAGES["train"].key("train", local) != STAGES["train"].key("train", spark)
    assert STAGES["ingest"].key("ingest", local) == STAGES["ingest"].key("ingest", spark)


def test_missing_outputs_or_force_or_uncached_stages_rerun(tmp_path: Path) -> None:
    rec = Recorder(tmp_path)
    stage = rec.stage("s")
    run_stage("s", stage, make_ctx(tmp_path))
    (tmp_path / "s.out").unlink()
    run_stage("s", stage, make_ctx(tmp_path))
    assert rec.calls == ["s", "s"]
    forced = make_ctx(tmp_path)
    forced.force = True
    run_stage("s", stage, forced)
    always = rec.stage("t", cached=False)
    run_stage("t", always, make_ctx(tmp_path))
    run_stage("t", always, make_ctx(tmp_path))
    assert rec.calls == ["s", "s", "s", "t", "t"]


def test_a_corrupt_cache_record_is_discarded(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    rec = Recorder(tmp_path)
    stage = rec.stage("s")
    ctx = make_ctx(tmp_path)
    run_stage("s", stage, ctx)
    (ctx.workdir.cache / "s.json").write_text("{truncated")
    run_stage("s", stage, make_ctx(tmp_path))
    assert rec.calls == ["s", "s"]
    assert "s cache record" in caplog.text


def test_run_pipeline_takes_its_stages_and_rejects_unknown_ones(tmp_path: Path) -> None:
    rec = Recorder(tmp_path)
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "pipelines" / "mini.yaml").write_text("name: mini\nstages: [a, b]\noverlay: {recommend: {top_n_product: 4}}\n")
    config = tmp_path / "config.yaml"
    config.write_text(f"workdir: {tmp_path / 'work'}\ndata: {{order_lines: x.csv}}\nmlflow: {{enabled: false}}\npublish: {{outputs: {tmp_path / 'out'}}}\n")
    stages = {"a": rec.stage("a"), "b": rec.stage("b")}
    ctx = run_pipeline("mini", config, stages=stages)
    assert rec.calls == ["a", "b"] and ctx.cfg.recommend.top_n_product == 4 and ctx.pipeline == "mini"
    with pytest.raises(ConfigError, match=r"unknown stage\(s\) \['b'\]"):
        load_pipeline(tmp_path / "pipelines" / "mini.yaml", {"a": stages["a"]})


def test_the_lines_evaluate_and_score_hand_on_are_held_for_the_next_stage_only(tmp_path: Path, retail_lines) -> None:
    from xsell.interactions.build import buyer_countries, encode_lines
    from xsell.steps import handoff

    files = [tmp_path / "order_lines.parquet", tmp_path / "customers.parquet"]
    retail_lines.to_parquet(files[0])
    coded, countries = encode_lines(retail_lines), buyer_countries(retail_lines)
    offering = Stage(lambda ctx: handoff.offer(files, coded, countries) or {}, cached=False)
    failing = Stage(lambda ctx: (handoff.offer(files, coded, countries), 1 / 0) and {}, cached=False)
    ctx = make_ctx(tmp_path)
    run_stage("evaluate", offering, ctx)
    run_stage("score", Stage(lambda ctx: {"handed": handoff.take(files) is not None}, cached=False), ctx)
    assert ctx.values["handed"] is True  # the next stage takes them
    run_stage("score", offering, ctx)  # score hands them on to recommend
    run_stage("recommend", Stage(lambda ctx: {"handed_on": handoff.take(files) is not None}, cached=False), ctx)
    assert ctx.values["handed_on"] is True
    run_stage("evaluate", offering, ctx)
    run_stage("recommend", Stage(lambda ctx: {}, cached=False), ctx)
    assert handoff.take(files) is None  # dropped after a stage that did not take them
    with pytest.raises(ZeroDivisionError):
        run_stage("evaluate", failing, ctx)
    assert handoff.take(files) is None  # a failed evaluate hands nothing on
