"""Every ``xsell`` command line in README.md works as written (issue 11, item 1).

The README is parsed, not copied: command lines in code blocks (cron, bash, the Airflow
template) and in inline code are collected wherever they are, so a line added later is
checked too. Each one is

- **run** when it is concrete and uses the demo config (``configs/demo.yaml``, or the
  ``/etc/xsell/acme.yaml`` of the scheduling examples): on tiny demo data in a temporary copy
  of the repository's ``configs/``, as a new process; every run must exit 0, and the runs from
  another folder must leave nothing in that folder;
- **loaded** (``xsell config show`` with the same config and options) when it names another
  config, whose data may not be here (``configs/online_retail.yaml``);
- **parsed** by the real argument parser when it is a template (``FILE``, ``[--force]``,
  ``tiny|small``): its options must exist;
- **known** when it merely names a command in prose (``xsell recommend`` writes ...).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from xsell.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
ENV = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
DEMO_CONFIGS = ("configs/demo.yaml", "/etc/xsell/acme.yaml")
"""Config paths the README uses for the demo / an own export: both run on the demo copy."""
GLOBAL_FLAGS = frozenset({"-q", "--quiet", "-v", "--verbose"})
PLACEHOLDER = re.compile(r"^(?:[A-Z][A-Z_]*|[A-Z_]+=[A-Z_]+)$|[\[\]|<>]|\.\.\.")
"""Template tokens: FILE, DIR, RUN_A, KEY=VALUE, [--force], tiny|small, <run>, ..."""


@dataclass(frozen=True)
class Command:
    section: str
    text: str
    argv: tuple[str, ...]

    @property
    def kind(self) -> str:
        if any(PLACEHOLDER.search(token) for token in self.argv):
            return "template"
        if len([t for t in self.argv[1:] if t not in GLOBAL_FLAGS]) == 1:
            return "mention"
        config = _option(self.argv, "--config")
        if config is None or config in DEMO_CONFIGS:
            return "run"
        return "load"


def _option(argv: tuple[str, ...], name: str) -> str | None:
    return next((argv[i + 1] for i, t in enumerate(argv[:-1]) if t == name), None)


def _commands_in(text: str) -> list[tuple[str, ...]]:
    """``xsell WORD ...`` command lines in a piece of README text (a code line or an inline
    span), each cut at a shell ``&&``, ``;``, ``|`` or comment."""
    out = []
    for match in re.finditer(r"(?:^|(?<=[\s/\"'`]))xsell(?=\s+(?:[a-z]|-[a-z-]))", text):
        rest = re.split(r"\s(?:&&|;|\|\||#)\s?", text[match.end() :], maxsplit=1)[0]
        try:
            out.append(("xsell", *shlex.split(rest.split("`")[0].rstrip('"'))))
        except ValueError:
            continue
    return out


def readme_commands() -> list[Command]:
    """Every xsell command line of README.md with its section, in README order."""
    commands: list[Command] = []
    section = ""
    text = README.read_text(encoding="utf-8")
    for block in re.split(r"(^```[^\n]*\n.*?^```$)", text, flags=re.S | re.M):
        if block.startswith("```"):
            body = block.split("\n", 1)[1]
            # a Python template such as XSELL = "... xsell run {job} ..." with .format(job="nightly")
            for template in re.findall(r"\"([^\"]*xsell [^\"]*\{\w+\}[^\"]*)\"", body):
                for key, value in re.findall(r"\.format\((\w+)=\"([^\"]+)\"\)", body):
                    body += "\n" + template.format(**{key: value})
            lines = body.splitlines()
        else:
            lines = []
            for match in re.finditer(r"^#+\s+(.*)$|`([^`]+)`", block, flags=re.M):
                if match.group(1):
                    commands += [Command(section, line, argv) for line in lines for argv in _commands_in(line)]
                    section, lines = match.group(1), []
                else:
                    lines.append(" ".join(match.group(2).split()))  # a span may wrap
        for line in lines:
            if "{" in line:
                continue  # the unexpanded template itself
            commands += [Command(section, line.strip(), argv) for argv in _commands_in(line)]
    return commands


COMMANDS = readme_commands()


def test_the_readme_has_the_command_lines_this_test_relies_on():
    scheduling = [c for c in COMMANDS if c.section == "Pipelines and scheduling" and c.kind == "run"]
    pipelines = {c.argv[c.argv.index("run") + 1] for c in scheduling}
    assert pipelines == {"nightly", "retrain", "backtest"}, scheduling
    assert any("-q" in c.argv for c in scheduling)  # the cron lines end in -q
    assert {c.kind for c in COMMANDS} == {"run", "load", "template", "mention"}


@pytest.mark.parametrize("command", [c for c in COMMANDS if c.kind == "template"], ids=lambda c: c.text)
def test_template_command_lines_parse(command):
    """Placeholders filled in with sample values; every option the line names must exist."""
    argv: list[str] = []
    for token in command.argv[1:]:
        token = token.strip("[]").split("|")[0]
        if token == "...":
            continue
        argv.append({"FILE": "x.yaml", "DIR": "out", "N": "1", "KEY=VALUE": "a.b=1", "PIPELINE": "nightly"}.get(token, token))
    argv = [("20260101T000000Z-0000000" if re.fullmatch(r"RUN(_[A-Z])?", t) else t) for t in argv]
    if "--config" not in argv and argv[0] not in ("demo-data", "config"):
        argv += ["--config", "x.yaml"]
    build_parser().parse_args(argv)  # raises UsageError on an unknown option


def test_commands_named_in_prose_exist():
    known = set(build_parser()._subparsers._group_actions[0].choices)  # noqa: SLF001 - the real command names
    named = {c.argv[1] for c in COMMANDS}
    assert named - known == set() and len(named) >= 8


def _xsell(argv: tuple[str, ...], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "xsell.cli", *argv], cwd=cwd, env=ENV, capture_output=True, text=True, timeout=900)


@pytest.mark.parametrize("command", [c for c in COMMANDS if c.kind == "load"], ids=lambda c: c.text)
def test_command_lines_on_other_configs_load_their_config(command):
    argv = list(command.argv[1:])
    options = [t for i, t in enumerate(argv) if t == "--set" or (i and argv[i - 1] == "--set")]
    run = _xsell(("config", "show", "--config", _option(command.argv, "--config"), *options), cwd=ROOT)
    assert run.returncode == 0, run.stderr


@pytest.mark.slow
def test_demo_command_lines_run_as_written(tmp_path):
    """The scheduling section's cron and Airflow lines (and any other concrete line on the demo
    config) against tiny demo data: retrain first, then the rest in README order."""
    repo, elsewhere = tmp_path / "repo", tmp_path / "elsewhere"
    shutil.copytree(ROOT / "configs", repo / "configs")
    elsewhere.mkdir()
    gen = _xsell(("demo-data", "--out", str(repo / "demo-data"), "--scale", "tiny", "--seed", "7"), cwd=repo)
    assert gen.returncode == 0, gen.stderr
    runnable = sorted((c for c in COMMANDS if c.kind == "run"), key=lambda c: "retrain" not in c.argv)
    done: set[tuple[str, ...]] = set()
    for command in runnable:
        argv = tuple(str(repo / "configs" / "demo.yaml") if t == "/etc/xsell/acme.yaml" else t for t in command.argv[1:])
        if tuple(t for t in argv if t not in GLOBAL_FLAGS) in done:
            continue  # the same command again, but for -q: parsing it is enough (see below)
        cwd = elsewhere if "/etc/xsell/acme.yaml" in command.argv else repo
        run = _xsell(argv, cwd=cwd)
        assert run.returncode == 0, f"{command.section}: {command.text}\n{run.stderr[-3000:]}"
        done.add(tuple(t for t in argv if t not in GLOBAL_FLAGS))
    for command in runnable:  # global options before or after the command
        build_parser().parse_args(list(command.argv[1:]))
    assert sorted(p.name for p in elsewhere.iterdir()) == []  # no mlflow.db, models/ or outputs/ in the cwd
    assert (repo / "outputs" / "demo" / "latest").is_symlink()
