"""The root config: YAML file + ``--set`` overrides + pipeline overlays -> typed ``Config``.

Every section is a ``StrictModel`` (``extra="forbid"``): unknown keys are errors naming
the key and the file. Relative paths resolve against the config file's folder.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, PrivateAttr, ValidationError

from xsell.configbase import ConfigPath, StrictModel
from xsell.errors import ConfigError
from xsell.evaluation.config import EvaluationConfig, MlflowConfig
from xsell.ingest.config import DataConfig, IngestConfig
from xsell.interactions.config import InteractionsConfig
from xsell.models.config import LearningConfig, ModelsConfig, RulesConfig
from xsell.publish.config import PublishConfig
from xsell.recommend.config import RecommendConfig


class Config(StrictModel):
    """Everything one xsell run needs. Only ``data.order_lines`` is required."""

    workdir: ConfigPath = Path("work")
    """Folder for intermediate data (canonical tables, matrices, evaluation, caches)."""
    data: DataConfig
    """Input files and column mapping."""
    ingest: IngestConfig = Field(default_factory=IngestConfig)
    """Validation and cleaning rules."""
    interactions: InteractionsConfig = Field(default_factory=InteractionsConfig)
    """Matrix construction."""
    rules: RulesConfig = Field(default_factory=RulesConfig)
    """Association rules."""
    models: ModelsConfig = Field(default_factory=ModelsConfig)
    """Recommenders to train."""
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)
    """Temporal evaluation."""
    mlflow: MlflowConfig = Field(default_factory=MlflowConfig)
    """Experiment tracking and registry."""
    recommend: RecommendConfig = Field(default_factory=RecommendConfig)
    """Suggestion tables and business rules."""
    publish: PublishConfig = Field(default_factory=PublishConfig)
    """Published outputs."""

    _source: Path | None = PrivateAttr(default=None)

    @property
    def source(self) -> Path | None:
        """The YAML file this config was read from, if any."""
        return self._source

    @property
    def tracking_uri(self) -> str:
        """``mlflow.tracking_uri`` or the default SQLite store in the workdir."""
        return self.mlflow.tracking_uri or f"sqlite:///{(self.workdir / 'mlflow.db').as_posix()}"

    def learning(self) -> LearningConfig:
        """The sections a model's training reads (``interactions``, ``models``, ``rules``)."""
        return LearningConfig(interactions=self.interactions, models=self.models, rules=self.rules)

    def hash(self) -> str:
        """sha256 of the resolved config (canonical JSON); keys caches and manifests."""
        from xsell.fingerprint import sha256_json

        return sha256_json(self.model_dump(mode="json"))


def deep_merge(base: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """Recursively merge ``overlay`` into a copy of ``base`` (overlay wins; dicts merge)."""
    out = copy.deepcopy(dict(base))
    for key, value in overlay.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def parse_override(text: str) -> dict[str, Any]:
    """``a.b.c=value`` -> ``{"a": {"b": {"c": value}}}``; the value is read as a YAML scalar."""
    if "=" not in text:
        raise ConfigError(f"--set expects dotted.key=value, got {text!r}")
    key, raw = text.split("=", 1)
    parts = [p for p in key.strip().split(".")]
    if not all(parts):
        raise ConfigError(f"--set has an empty key part in {text!r}")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        raise ConfigError(f"--set value for {key!r} is not valid YAML: {exc}") from None
    node: dict[str, Any] = {}
    cur = node
    for part in parts[:-1]:
        cur[part] = {}
        cur = cur[part]
    cur[parts[-1]] = value
    return node


def _format_validation_error(exc: ValidationError, file: Path | None) -> ConfigError:
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            lines.append(f"unknown key {loc!r}")
        elif err["type"] == "missing":
            lines.append(f"missing required key {loc!r}")
        else:
            lines.append(f"{loc}: {err['msg']} (got {err.get('input')!r})")
    where = f" in {file}" if file else ""
    first_key = ".".join(str(p) for p in exc.errors()[0]["loc"]) if exc.errors() else None
    err = ConfigError(f"invalid config{where}: " + "; ".join(lines))
    err.file = str(file) if file else None
    err.key = first_key
    return err


def read_yaml(path: Path) -> dict[str, Any]:
    """Read a YAML mapping; a missing file, bad YAML or a non-mapping is a ``ConfigError``."""
    if not path.is_file():
        raise ConfigError("config file not found", file=path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"config is not valid YAML: {exc}", file=path) from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError("config must be a YAML mapping at top level", file=path)
    return raw


def config_from_dict(
    raw: Mapping[str, Any], *, base_dir: Path, source: Path | None = None
) -> Config:
    """Validate a raw mapping; relative paths resolve against ``base_dir``."""
    try:
        cfg = Config.model_validate(dict(raw), context={"base_dir": Path(base_dir).resolve()})
    except ValidationError as exc:
        raise _format_validation_error(exc, source) from None
    cfg._source = source
    return cfg


def load_config(
    path: str | Path,
    overrides: Iterable[str] = (),
    overlays: Iterable[Mapping[str, Any]] = (),
) -> Config:
    """Load ``path``, apply pipeline ``overlays`` then ``--set`` ``overrides``, validate."""
    path = Path(path).expanduser().resolve()
    raw = read_yaml(path)
    for overlay in overlays:
        raw = deep_merge(raw, overlay)
    for text in overrides:
        raw = deep_merge(raw, parse_override(text))
    return config_from_dict(raw, base_dir=path.parent, source=path)


def reference(model: type[StrictModel] = Config, prefix: str = "") -> list[tuple[str, str, str]]:
    """Every config key as ``(dotted key, default, docstring)``, from the typed sections."""
    from pydantic import BaseModel
    from pydantic_core import PydanticUndefined

    rows: list[tuple[str, str, str]] = []
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        annotation = field.annotation
        nested = [a for a in getattr(annotation, "__args__", (annotation,)) if isinstance(a, type) and issubclass(a, BaseModel)]
        doc = " ".join((field.description or "").split())
        if nested:
            rows.append((key, "", doc))
            rows.extend(reference(nested[0], f"{key}."))
            continue
        if field.default_factory is not None:
            default = field.default_factory()
        elif field.default is PydanticUndefined:
            default = "(required)"
        else:
            default = field.default
        rows.append((key, json.dumps(default, default=str) if default != "(required)" else default, doc))
    return rows
