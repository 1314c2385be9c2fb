"""Which agent runs a task, and how: the runner's per-role and per-label agent settings.

They come from `.taskloom/runner.toml` or from the `runner:` section of a plan file, both shaped

    [defaults]            preset = "claude"  model = "sonnet"  max_turns = 80
    [roles.<role>]        any of the same keys
    [labels.<label>]      any of the same keys

Layers apply key by key, each over the one before: the built-in values, `defaults`, the task's
role, the first of the task's labels that has a section, then what the command line says. Where
the TOML file and a plan both have a section, the plan's keys win. Every mistake is an
InvalidInput naming the file and the key, with what to write instead: a misspelt key must not be
ignored and leave the worker on settings nobody chose.
"""

from __future__ import annotations

import difflib
import json
import shlex
import string
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from taskloom.errors import InvalidInput

PRESETS = ("claude", "opencode", "codex", "command")
# What a `command` template may name; each value replaces its placeholder inside one argument.
PLACEHOLDERS = ("prompt", "prompt_file", "mcp_config", "agent", "task", "stream", "workdir", "model")
# Claude's --allowedTools: taskloom's tools and the file tools, no shell. A role that needs one
# says so, e.g. allowed_tools = ["mcp__taskloom__*", "Read", "Edit", "Write", "Bash(pytest:*)"].
DEFAULT_ALLOWED_TOOLS = ("mcp__taskloom__*", "Read", "Edit", "Write", "Glob", "Grep")
SECTIONS = ("defaults", "roles", "labels")
CLI = "the command line"


@dataclass(frozen=True)
class AgentSettings:
    preset: str = "claude"  # claude | opencode | codex | command
    command: str | None = None  # the template of preset "command" (--agent-cmd)
    model: str | None = None
    args: tuple[str, ...] = ()  # extra arguments, appended to the preset's own
    max_turns: int | None = None  # claude's --max-turns (the preset's default when None)
    timeout: float | None = None  # seconds a worker may run before its group is stopped
    allowed_tools: tuple[str, ...] = DEFAULT_ALLOWED_TOOLS  # claude's --allowedTools
    executable: str | None = None  # the agent CLI to run (default: the preset's name, on PATH)


Layer = Mapping[str, Any]  # some AgentSettings fields, checked and typed


@dataclass(frozen=True)
class RunnerConfig:
    """The settings of every role and label; `for_task` says which apply to one task.

    `roles` and `labels` hold each section's own keys (not whole settings): a label's keys apply
    over the role's, key by key, and the command line's over both.
    """

    default: AgentSettings = AgentSettings()  # built-in values under `defaults`
    roles: Mapping[str, Layer] = field(default_factory=dict)
    labels: Mapping[str, Layer] = field(default_factory=dict)
    overrides: Layer = field(default_factory=dict)  # from the command line

    def for_task(self, role: str | None, labels: Sequence[str] = ()) -> AgentSettings:
        """Defaults, then the role's keys, then the first matching label's, then the command line's."""
        label = next((lb for lb in labels if lb in self.labels), None)
        return _apply(
            self.default,
            self.roles.get(role, {}) if role is not None else {},
            self.labels[label] if label is not None else {},
            self.overrides,
        )


def load(
    toml_path: Path | None = None,
    plan_runner: Mapping[str, Any] | None = None,
    overrides: Mapping[str, Any] | None = None,
    *,
    plan_source: str | Path | None = None,
) -> RunnerConfig:
    """Read and check the runner's settings from a TOML file, a plan's `runner:` section and the CLI.

    `overrides` are AgentSettings fields by name; None values (flags not given) are skipped.
    A `command` without a `preset` means preset "command", here as in the files.
    """
    sections, wheres = [], []
    if toml_path is not None:
        wheres.append(str(toml_path))
        sections.append(_sections(_read_toml(toml_path), wheres[-1]))
    if plan_runner is not None:
        wheres.append(f"{plan_source}: runner" if plan_source else "the plan's runner section")
        sections.append(_sections(plan_runner, wheres[-1]))
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    cli = _layer(given, CLI, "") if given else {}

    defaults: dict[str, Any] = {}
    roles: dict[str, dict[str, Any]] = {}
    labels: dict[str, dict[str, Any]] = {}
    for found in sections:
        defaults.update(found["defaults"])
        for name, layer in found["roles"].items():
            roles.setdefault(name, {}).update(layer)
        for name, layer in found["labels"].items():
            labels.setdefault(name, {}).update(layer)
    config = RunnerConfig(
        default=_apply(AgentSettings(), defaults),
        roles=MappingProxyType({k: MappingProxyType(v) for k, v in roles.items()}),
        labels=MappingProxyType({k: MappingProxyType(v) for k, v in labels.items()}),
        overrides=MappingProxyType(cli),
    )
    _check_commands(config, wheres)
    return config


def read_plan_runner(path: Path) -> Mapping[str, Any] | None:
    """The `runner:` section of a plan file (JSON, or YAML otherwise), None if it has none."""
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"Cannot read the plan {path}: {getattr(exc, 'strerror', None) or exc}.",
                           hint="Check the path; it is read from the current directory.") from None
    except (ValueError, yaml.YAMLError) as exc:
        raise InvalidInput(f"{path} is not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {exc}",
                           hint="Fix the file where the message says.") from None
    if not isinstance(data, Mapping):
        return None
    return data.get("runner")


def split_template(template: str) -> list[str]:
    """A `command` template split like a shell would split it, placeholders checked; never run by one.

    Splitting comes before substitution, so a value with spaces stays one argument.
    """
    try:
        words = shlex.split(template)
    except ValueError as exc:
        raise ValueError(f"cannot be split into arguments ({exc})") from None
    if not words:
        raise ValueError("is empty")
    for word in words:
        try:
            parsed = list(string.Formatter().parse(word))
        except ValueError as exc:
            raise ValueError(f"has a stray brace in {word!r} ({exc}); write {{{{ and }}}} for literal braces") from None
        for _, name, spec, conversion in parsed:
            if name is None:
                continue
            if name not in PLACEHOLDERS or spec or conversion:
                shown = "{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
                raise ValueError(f"has an unknown placeholder {shown}")
    return words


# --- checking -------------------------------------------------------------------------------


def _read_toml(path: Path) -> Mapping[str, Any]:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except OSError as exc:
        raise InvalidInput(f"Cannot read the runner settings {path}: {exc.strerror or exc}.",
                           hint="Check the path, or leave the file out to use the built-in settings.") from None
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(f"{path} is not valid TOML: {exc}.",
                           hint="Fix the file where the message says (see https://toml.io).") from None


def _sections(raw: Any, where: str) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        raise _bad(where, "", f"must be a table with {', '.join(SECTIONS)}, not {_kind(raw)}",
                   "Write for example: defaults: {preset: claude}")
    for key in raw:
        if key not in SECTIONS:
            raise _bad(where, str(key), "is not a section", f"Use {', '.join(SECTIONS)}{_did_you_mean(key, SECTIONS)}.")
    out: dict[str, Any] = {"defaults": _layer(raw.get("defaults", {}), where, "defaults"), "roles": {}, "labels": {}}
    for section in ("roles", "labels"):
        named = raw.get(section, {})
        if not isinstance(named, Mapping):
            raise _bad(where, section, f"must map each {section[:-1]} to its settings, not {_kind(named)}",
                       f"Write for example [{section}.reviewer] with model = \"opus\".")
        for name, layer in named.items():
            out[section][str(name)] = _layer(layer, where, f"{section}.{name}")
    return out


def _layer(raw: Any, where: str, key: str) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        raise _bad(where, key, f"must be a table of settings, not {_kind(raw)}",
                   f"Write keys such as preset, model, max_turns under it ({', '.join(CHECKS)}).")
    out: dict[str, Any] = {}
    for name, value in raw.items():
        full = f"{key}.{name}" if key else str(name)
        check = CHECKS.get(name)
        if check is None:
            raise _bad(where, full, "is not a setting", f"Use one of {', '.join(CHECKS)}{_did_you_mean(name, CHECKS)}.")
        try:
            out[name] = check(value)
        except ValueError as exc:
            raise _bad(where, full, f"{exc} (it is {value!r})", EXAMPLES[name]) from None
    if "command" in out:
        preset = out.setdefault("preset", "command")
        if preset != "command":
            raise _bad(where, f"{key}.command" if key else "command", f"is only used by preset \"command\", not {preset!r}",
                       "Drop the command, or set preset = \"command\" to run it instead of the preset.")
    return out


def _check_commands(config: RunnerConfig, files: list[str]) -> None:
    """Preset "command" needs a template from some layer, for every role and label a task can have."""
    combos: list[tuple[str, list[Layer]]] = [("defaults", [])]
    combos += [(f"roles.{r}", [layer]) for r, layer in config.roles.items()]
    for label, layer in config.labels.items():
        combos.append((f"labels.{label}", [layer]))
        combos += [(f"labels.{label} (with roles.{r})", [rl, layer]) for r, rl in config.roles.items()]
    for key, layers in combos:
        settings = _apply(config.default, *layers, config.overrides)
        if settings.preset == "command" and not settings.command:
            where = CLI if "preset" in config.overrides else " and ".join(files) or "the runner settings"
            raise _bad(where, key, "uses preset \"command\" but no layer gives it a command",
                       "Add command = \"my-agent --prompt-file {prompt_file}\" beside the preset, or pass --agent-cmd.")


def _apply(base: AgentSettings, *layers: Layer) -> AgentSettings:
    for layer in layers:
        if layer:
            base = replace(base, **layer)
    return base


def _bad(where: str, key: str, problem: str, hint: str) -> InvalidInput:
    subject = f"{where}: {key}" if key else where
    return InvalidInput(f"{subject} {problem}.", hint=hint, details={"file": where, "key": key})


def _kind(value: Any) -> str:
    return {str: "a string", int: "a number", float: "a number", bool: "true/false", list: "a list"}.get(
        type(value), "a table" if isinstance(value, Mapping) else type(value).__name__)


def _did_you_mean(word: Any, choices: Sequence[str] | Mapping[str, Any]) -> str:
    close = difflib.get_close_matches(str(word), list(choices), n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be a non-empty string")
    return value


def _preset(value: Any) -> str:
    if value not in PRESETS:
        raise ValueError(f"must be one of {', '.join(PRESETS)}")
    return value


def _command(value: Any) -> str:
    split_template(_text(value))
    return value


def _words(value: Any) -> tuple[str, ...]:
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and v for v in value):
        raise ValueError("must be a list of non-empty strings")
    return tuple(value)


def _turns(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError("must be a whole number of 1 or more")
    return value


def _seconds(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 or value == float("inf"):
        raise ValueError("must be a number of seconds above 0")
    return float(value)


CHECKS: dict[str, Callable[[Any], Any]] = {
    "preset": _preset,
    "command": _command,
    "model": _text,
    "args": _words,
    "max_turns": _turns,
    "timeout": _seconds,
    "allowed_tools": _words,
    "executable": _text,
}
EXAMPLES = {
    "preset": f"Write preset = \"claude\" (one of {', '.join(PRESETS)}).",
    "command": "Write command = \"my-agent --prompt-file {prompt_file} --mcp {mcp_config}\"; placeholders: "
    + ", ".join("{" + p + "}" for p in PLACEHOLDERS) + " ({{ and }} for literal braces).",
    "model": "Write model = \"sonnet\" (the name the agent's --model flag takes).",
    "args": "Write args = [\"--flag\", \"value\"]: one string per argument.",
    "max_turns": "Write max_turns = 50.",
    "timeout": "Write timeout = 1800 (seconds).",
    "allowed_tools": "Write allowed_tools = [\"mcp__taskloom__*\", \"Read\", \"Edit\"].",
    "executable": "Write executable = \"/path/to/claude\" (or leave it out to find the preset's CLI on PATH).",
}
