"""The root config: YAML file + ``--set`` overrides + pipeline overlays -> typed ``Config``.

Every section is a ``StrictModel`` (``extra="forbid"``): unknown keys are errors naming
the key and the file (with a "did you mean" when a known key is close). Relative paths
resolve against the config file's folder. YAML is read strictly: UTF-8 only, duplicate keys
are errors, and a file larger than ``MAX_CONFIG_BYTES`` or expanding (through aliases) to
more than ``MAX_CONFIG_VALUES`` values is refused before anything walks it.
"""

from __future__ import annotations

import copy
import json
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field, PrivateAttr, ValidationError

from xsell.configbase import ConfigPath, StrictModel, did_you_mean, echo
from xsell.errors import ConfigError
from xsell.evaluation.config import EvaluationConfig, MlflowConfig
from xsell.ingest.config import DataConfig, IngestConfig
from xsell.interactions.config import InteractionsConfig
from xsell.models.config import LearningConfig, ModelsConfig, RulesConfig
from xsell.monitor.config import MonitorConfig
from xsell.publish.config import PublishConfig
from xsell.recommend.config import RecommendConfig
from xsell.spark.config import EngineConfig

ALLOWED = " Allowed values:"
"""Marks the closed choices at the end of a ``reference`` docstring."""
MAX_CONFIG_BYTES = 1 << 20
"""Largest config or pipeline file read (1 MiB; real configs are a few KiB)."""
MAX_CONFIG_VALUES = 100_000
"""Most values (scalars, lists and mappings) a config may expand to once YAML aliases are resolved."""


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
    monitor: MonitorConfig = Field(default_factory=MonitorConfig)
    """Uptake of published suggestions on later order lines (``xsell monitor``)."""
    engine: EngineConfig = Field(default_factory=EngineConfig)
    """Which backend runs the heavy stages (``local`` or ``spark``)."""

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


class _StrictLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that rejects a key written twice in one mapping (PyYAML keeps the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, yaml.Node] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.setdefault(key, key_node)
            except TypeError:  # unhashable key: the base class reports it
                continue
            if first is not key_node:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping", node.start_mark,
                    f"found duplicate key {echo(key)} (first on line {first.start_mark.line + 1})", key_node.start_mark,
                )  # fmt: skip
        return super().construct_mapping(node, deep)


def _expanded_size(value: Any, memo: dict[int, int], depth: int = 0) -> int:
    """Number of values ``value`` holds once shared (aliased) parts are counted every time they
    occur; shared parts are sized once (``memo`` by id), so a YAML alias bomb costs linear time."""
    key = id(value)
    if key in memo:
        return memo[key]
    if depth > 100:
        return MAX_CONFIG_VALUES + 1
    if isinstance(value, Mapping):
        size = 1 + sum(_expanded_size(v, memo, depth + 1) for v in value.values())
    elif isinstance(value, (list, tuple)):
        size = 1 + sum(_expanded_size(v, memo, depth + 1) for v in value)
    else:
        size = 1
    memo[key] = size
    return size


def safe_yaml(text: str, *, what: str, file: Path | None = None) -> Any:
    """Parse YAML text strictly (see module docstring); errors are ``ConfigError``s."""
    try:
        value = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise ConfigError(f"{what} is not valid YAML: {exc}", file=file) from None
    if _expanded_size(value, {}) > MAX_CONFIG_VALUES:
        raise ConfigError(
            f"{what} expands to more than {MAX_CONFIG_VALUES:,} values (YAML aliases nested too deep?); refused", file=file
        )
    return value


def parse_override(text: str) -> dict[str, Any]:
    """``a.b.c=value`` -> ``{"a": {"b": {"c": value}}}``; the value is read as a YAML scalar."""
    if "=" not in text:
        raise ConfigError(f"--set expects dotted.key=value, got {echo(text)}")
    key, raw = text.split("=", 1)
    parts = [p for p in key.strip().split(".")]
    if not all(parts):
        raise ConfigError(f"--set has an empty key part in {echo(text)}")
    if len(raw.encode()) > MAX_CONFIG_BYTES:
        raise ConfigError(f"--set value for {key!r} is larger than {MAX_CONFIG_BYTES:,} bytes")
    value = safe_yaml(raw, what=f"--set value for {key!r}") if raw.strip() else ""
    node: dict[str, Any] = {}
    cur = node
    for part in parts[:-1]:
        cur[part] = {}
        cur = cur[part]
    cur[parts[-1]] = value
    return node


def _section_model(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The config section (model class) holding the key at ``loc`` (its last part), if any."""
    model: type[BaseModel] = Config
    for part in loc[:-1]:
        field = model.model_fields.get(str(part))
        if field is None:
            return None
        nested = [a for a in typing.get_args(field.annotation) or (field.annotation,) if isinstance(a, type) and issubclass(a, BaseModel)]
        if not nested:
            return None
        model = nested[0]
    return model


def _format_validation_error(exc: ValidationError, file: Path | None) -> ConfigError:
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            section = _section_model(err["loc"])
            hint = did_you_mean(str(err["loc"][-1]), section.model_fields) if section is not None else ""
            lines.append(f"unknown key {loc!r}{hint}")
        elif err["type"] == "missing":
            lines.append(f"missing required key {loc!r}")
        else:
            lines.append(f"{loc}: {echo(err['msg'])} (got {echo(err.get('input'))})")
    where = f" in {file}" if file else ""
    first_key = ".".join(str(p) for p in exc.errors()[0]["loc"]) if exc.errors() else None
    error = ConfigError(f"invalid config{where}: " + "; ".join(lines))
    error.file = str(file) if file else None
    error.key = first_key
    return error


def read_yaml(path: Path) -> dict[str, Any]:
    """Read a YAML mapping strictly (see module docstring); a missing, oversized or non-UTF-8
    file, bad YAML, a duplicate key or a non-mapping is a ``ConfigError``."""
    if not path.is_file():
        raise ConfigError("config file not found", file=path)
    data = path.read_bytes()
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(f"config file is {len(data):,} bytes, more than {MAX_CONFIG_BYTES:,}; refused", file=path)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"config file is not UTF-8: byte 0x{data[exc.start]:02x} on line {line} (save it as UTF-8)", file=path
        ) from None
    raw = safe_yaml(text.lstrip("\ufeff"), what="config", file=path)
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


def reference(model: type[BaseModel] = Config, prefix: str = "") -> list[tuple[str, str, str]]:
    """Every config key as ``(dotted key, default, docstring)``, from the typed sections."""
    from pydantic_core import PydanticUndefined

    rows: list[tuple[str, str, str]] = []
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        annotation = field.annotation
        nested = [a for a in getattr(annotation, "__args__", (annotation,)) if isinstance(a, type) and issubclass(a, BaseModel)]
        doc = " ".join((field.description or "").split())
        choices = literal_choices(annotation)
        if choices:
            doc = f"{doc}{ALLOWED} {', '.join(choices)}"
        if nested:
            rows.append((key, "", doc))
            rows.extend(reference(nested[0], f"{key}."))
            continue
        if field.default_factory is not None:
            default = field.get_default(call_default_factory=True)
        elif field.default is PydanticUndefined:
            default = "(required)"
        else:
            default = field.default
        rows.append((key, json.dumps(default, default=str) if default != "(required)" else default, doc))
    return rows


def literal_choices(annotation: Any) -> list[str]:
    """The allowed values of a closed choice (a ``Literal``, also inside ``list[...]``,
    ``dict[...]`` keys or ``... | None``), as text; ``[]`` for open types."""
    if typing.get_origin(annotation) is typing.Literal:
        return [str(a) for a in typing.get_args(annotation)]
    out: list[str] = []
    for arg in typing.get_args(annotation):
        out += [c for c in literal_choices(arg) if c not in out]
    return out
