"""One config system for every trainer: nested dataclasses filled from YAML files and ``--set`` overrides.

A YAML config may name ``_base_: other.yaml`` (relative to itself) to inherit from; its keys are merged over the
base recursively, and a section given in part keeps the defaults the trainer's config class gives it (fine-tuning's
``run.output_dir`` stays ``output/finetune`` under ``--set run.seed=1``). ``{{$NAME:default}}`` in a config file is
replaced by the environment variable ``NAME`` (or ``default`` when it is unset), the syntax mmengine reads in the
OpenMMLab configs, so one variable (``EFFICIENTTRAIN_DATA``, the data root of the CPU configs) serves both. ``--set
a.b=value`` overrides are parsed as YAML scalars (``--set optim.blr=1e-3``, ``--set schedule.preset=baseline``).
Unknown keys, values of the wrong type and values outside a ``Literal[...]`` field's choices are errors that name the
key when the config is loaded, never silently ignored; ``refuse_unused`` refuses keys a job would ignore.
"""
from __future__ import annotations

import argparse
import dataclasses
import functools
import os
import re
import types
import typing
from pathlib import Path
from typing import Any, Iterable, Literal, TypeVar

import yaml

__all__ = ["load_config", "to_dict", "parse_args", "refuse_unused", "RunConfig"]

T = TypeVar("T")
ENV_VARIABLE = re.compile(r"\{\{\s*\$(\w+)\s*(?::\s*(\S*?))?\s*\}\}")  # {{$NAME:default}}, as mmengine


@dataclasses.dataclass
class RunConfig:
    """Where and how a run executes."""

    output_dir: str = "output/run"
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    amp: Literal["auto", "bf16", "fp16", "none"] = "auto"  # auto: bf16 on CUDA, none on the CPU
    compile: Literal[False, True, "blocks"] = False  # true: the whole model; blocks: each repeated block
    resume: str | None = "auto"  # auto: continue from output_dir/checkpoint-last.pth if present; or a path; null
    save_every: int = 20  # keep a numbered checkpoint every this many epochs (checkpoint-last always)
    save_minutes: float | None = None  # also write checkpoint-last mid-epoch every this many minutes (engine.preempt)
    log_images_every: int = 10  # epochs between TensorBoard image panels (0: never)
    progress: bool = True


# ---------------------------------------------------------------------------------------------------- loading
def _read_yaml(path: Path, seen: tuple[Path, ...] = ()) -> dict:
    path = path.resolve()
    if not path.is_file():
        raise FileNotFoundError(f"config file not found: {path}")
    if path in seen:
        raise ValueError(f"config inheritance loops through {path}")
    data = yaml.safe_load(_substitute_environment(path.read_text(), path)) or {}
    if not isinstance(data, dict):
        raise ValueError(f"config {path} must hold a mapping at the top level")
    base = data.pop("_base_", None)
    if base is None:
        return data
    return _merge(_read_yaml(path.parent / base, seen + (path,)), data)


def _substitute_environment(text: str, path: Path) -> str:
    def value(match: re.Match) -> str:
        name, default = match.groups()
        if name in os.environ:
            return os.environ[name]
        if default is None:
            raise ValueError(f"config {path} reads the environment variable {name}, which is not set")
        return default

    return ENV_VARIABLE.sub(value, text)


def _merge(base: dict, update: dict) -> dict:
    out = dict(base)
    for key, value in update.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _apply_override(data: dict, item: str) -> None:
    if "=" not in item:
        raise ValueError(f"override {item!r} must look like key.sub=value")
    dotted, raw = item.split("=", 1)
    keys = dotted.strip().split(".")
    node = data
    for key in keys[:-1]:
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            raise ValueError(f"override {item!r}: {key!r} is not a section")
    node[keys[-1]] = yaml.safe_load(raw) if raw.strip() else None


def _build(cls: type[T], data: Any, where: str) -> T:
    if not isinstance(data, dict):
        raise ValueError(f"config section {where or 'root'} must be a mapping, got {data!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(data) - set(fields)
    if unknown:
        raise ValueError(f"unknown config key(s) {sorted(f'{where}{k}' for k in unknown)}; "
                         f"{where or 'root'} accepts {sorted(fields)}")
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for name, value in data.items():
        default = fields[name].default_factory
        if isinstance(value, dict) and dataclasses.is_dataclass(hints[name]) and default is not dataclasses.MISSING:
            value = _merge(dataclasses.asdict(default()), value)  # a section given in part keeps its own defaults
        kwargs[name] = _coerce(hints[name], value, f"{where}{name}")
    return cls(**kwargs)


def _coerce(hint: Any, value: Any, where: str) -> Any:
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, where + ".")
    origin = typing.get_origin(hint)
    if origin is Literal:
        choices = typing.get_args(hint)
        if value not in choices:
            raise ValueError(f"config key {where} must be one of {list(choices)}, got {value!r}")
        return value
    if origin in (typing.Union, types.UnionType):
        options = [h for h in typing.get_args(hint) if h is not type(None)]
        if value is None:
            return None
        return _coerce(options[0], value, where)
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"config key {where} expects a list, got {value!r}")
        return origin(value)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is float and isinstance(value, str):  # YAML 1.1 reads "2e-3" (no dot) as a string
        try:
            return float(value)
        except ValueError:
            pass
    if hint in (int, float, str, bool) and not isinstance(value, hint):
        raise ValueError(f"config key {where} expects {hint.__name__}, got {value!r}")
    return value


def load_config(cls: type[T], path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> T:
    """Build ``cls`` from defaults, then the YAML file (with ``_base_`` inheritance), then ``overrides``."""
    data = _read_yaml(Path(path)) if path else {}
    for item in overrides:
        _apply_override(data, item)
    return _build(cls, data, "")


def to_dict(cfg: Any) -> dict:
    return dataclasses.asdict(cfg)


def refuse_unused(cfg: Any, keys: Iterable[str], job: str) -> None:
    """Refuse a value given to any of ``keys`` (dotted, e.g. ``run.compile``) that ``job`` would ignore: each must
    keep the default of ``cfg``'s own config class, or the error names the key."""
    defaults = type(cfg)()
    for key in keys:
        *path, name = key.split(".")
        given = getattr(functools.reduce(getattr, path, cfg), name)
        if given != getattr(functools.reduce(getattr, path, defaults), name):
            raise ValueError(f"config key {key}={given!r} has no effect on {job}; leave it unset")


def parse_args(cls: type[T], description: str, argv: list[str] | None = None,
               default_config: str | Path | None = None) -> T:
    """The command line every trainer shares: ``--config FILE`` (default ``default_config``) and repeated
    ``--set key=value``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--config", default=default_config,
                        help=f"YAML config (default: {default_config or 'the dataclass defaults'})")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value, e.g. --set schedule.epochs=100 (repeatable)")
    args = parser.parse_args(argv)
    try:
        return load_config(cls, args.config, args.overrides)
    except (ValueError, FileNotFoundError) as err:
        parser.exit(2, f"config error: {err}\n")
