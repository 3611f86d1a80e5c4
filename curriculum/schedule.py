"""Curriculum schedules as data: stages over the fraction of training, looked up by epoch.

A ``Schedule`` holds ``epochs`` and a tuple of contiguous ``Stage``s covering the training fraction ``[0, 1]``.
Each stage fixes the input size ``B`` (the low-frequency crop), a RandAugment magnitude that moves linearly from
``magnitude[0]`` at the stage's start to ``magnitude[1]`` at its end, a batch-size multiplier, an extra learning-rate
multiplier and the number of times a loaded batch is replayed (EfficientTrain++ replay buffer). Because stages are
fractions, one schedule scales to any epoch count; ``Schedule.at(epoch)`` accepts fractional epochs.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import yaml

__all__ = ["Stage", "StageValues", "Schedule", "round_size"]


def round_size(size: float, multiple: int | None = None) -> int:
    """Round ``size`` to the nearest multiple of ``multiple`` (at least one multiple), or to an int if ``None``."""
    if multiple is None:
        return max(1, int(round(size)))
    if multiple <= 0:
        raise ValueError(f"rounding multiple must be positive, got {multiple}")
    return max(multiple, int(round(size / multiple)) * multiple)


@dataclass(frozen=True)
class Stage:
    """One curriculum stage on the training fraction ``[start, end)``."""

    start: float
    end: float
    size: int
    magnitude: tuple[float, float] = (9.0, 9.0)
    batch_scale: float = 1.0
    lr_scale: float = 1.0
    replay: int = 1

    def __post_init__(self):
        object.__setattr__(self, "magnitude", tuple(float(m) for m in self.magnitude))
        if not (isinstance(self.size, int) and self.size > 0):
            raise ValueError(f"stage size must be a positive int, got {self.size!r}")
        if not 0.0 <= self.start < self.end <= 1.0:
            raise ValueError(f"stage bounds must satisfy 0 <= start < end <= 1, got [{self.start}, {self.end})")
        if len(self.magnitude) != 2 or min(self.magnitude) < 0:
            raise ValueError(f"stage magnitude must be a pair of non-negative numbers, got {self.magnitude!r}")
        if self.batch_scale <= 0 or self.lr_scale <= 0:
            raise ValueError(f"batch_scale and lr_scale must be positive, got {self.batch_scale}, {self.lr_scale}")
        if not (isinstance(self.replay, int) and self.replay >= 1):
            raise ValueError(f"replay must be an int >= 1, got {self.replay!r}")


@dataclass(frozen=True)
class StageValues:
    """What the trainer applies at one point of training."""

    stage: int
    size: int
    magnitude: float
    batch_scale: float
    lr_scale: float
    replay: int


@dataclass(frozen=True)
class Schedule:
    """A curriculum: ``epochs`` and contiguous stages covering the whole of training."""

    name: str
    epochs: int
    stages: tuple[Stage, ...]

    def __post_init__(self):
        object.__setattr__(self, "stages", tuple(self.stages))
        if not (isinstance(self.epochs, int) and self.epochs > 0):
            raise ValueError(f"schedule epochs must be a positive int, got {self.epochs!r}")
        if not self.stages:
            raise ValueError("a schedule needs at least one stage")
        if not math.isclose(self.stages[0].start, 0.0, abs_tol=1e-9):
            raise ValueError(f"the first stage must start at 0, got {self.stages[0].start}")
        if not math.isclose(self.stages[-1].end, 1.0, abs_tol=1e-9):
            raise ValueError(f"the last stage must end at 1, got {self.stages[-1].end}")
        for i, (a, b) in enumerate(zip(self.stages, self.stages[1:])):
            if b.start < a.end - 1e-9:
                raise ValueError(f"stages {i} and {i + 1} overlap or are unsorted: [{a.start}, {a.end}) then "
                                 f"[{b.start}, {b.end})")
            if b.start > a.end + 1e-9:
                raise ValueError(f"gap between stages {i} and {i + 1}: {a.end} .. {b.start}")

    # ------------------------------------------------------------------ lookup
    @property
    def final_size(self) -> int:
        return self.stages[-1].size

    def stage_index(self, epoch: float) -> int:
        """Index of the stage active at ``epoch`` (0-based, fractional allowed, ``0 <= epoch <= epochs``)."""
        if not 0 <= epoch <= self.epochs:
            raise ValueError(f"epoch {epoch} is outside this schedule's 0..{self.epochs}")
        fraction = epoch / self.epochs
        for i, stage in enumerate(self.stages):
            if fraction < stage.end - 1e-12:
                return i
        return len(self.stages) - 1

    def at(self, epoch: float) -> StageValues:
        """Stage values at ``epoch``; the magnitude is interpolated linearly inside the stage."""
        i = self.stage_index(epoch)
        s = self.stages[i]
        t = min(max((epoch / self.epochs - s.start) / (s.end - s.start), 0.0), 1.0)
        magnitude = s.magnitude[0] + t * (s.magnitude[1] - s.magnitude[0])
        return StageValues(i, s.size, magnitude, s.batch_scale, s.lr_scale, s.replay)

    def stage_epochs(self, i: int) -> tuple[int, int]:
        """Integer epoch range ``[first, last + 1)`` during which stage ``i`` is active, starting each epoch."""
        first = next((e for e in range(self.epochs) if self.stage_index(e) == i), None)
        if first is None:
            return (0, 0)
        last = max(e for e in range(self.epochs) if self.stage_index(e) == i)
        return first, last + 1

    # ------------------------------------------------------------------ transforms
    def with_epochs(self, epochs: int) -> "Schedule":
        return replace(self, epochs=epochs)

    def with_sizes(self, sizes: list[int]) -> "Schedule":
        if len(sizes) != len(self.stages):
            raise ValueError(f"expected {len(self.stages)} sizes, got {len(sizes)}")
        return replace(self, stages=tuple(replace(s, size=int(b)) for s, b in zip(self.stages, sizes)))

    def rounded(self, multiple: int) -> "Schedule":
        """Round every size to the nearest multiple of ``multiple`` (e.g. the ViT patch size), at least one."""
        return self.with_sizes([round_size(s.size, multiple) for s in self.stages])

    # ------------------------------------------------------------------ I/O
    def to_dict(self) -> dict:
        return {"name": self.name, "epochs": self.epochs,
                "stages": [{**asdict(s), "magnitude": list(s.magnitude)} for s in self.stages]}

    @classmethod
    def from_dict(cls, data: dict) -> "Schedule":
        unknown = set(data) - {"name", "epochs", "stages"}
        if unknown:
            raise ValueError(f"unknown schedule keys: {sorted(unknown)}")
        try:
            stages = tuple(Stage(**s) for s in data["stages"])
            return cls(name=str(data.get("name", "custom")), epochs=data["epochs"], stages=stages)
        except (KeyError, TypeError) as err:
            raise ValueError(f"malformed schedule: {err}") from err

    def save(self, path: str | Path) -> None:
        path = Path(path)
        text = json.dumps(self.to_dict(), indent=2) if path.suffix == ".json" else yaml.safe_dump(
            self.to_dict(), sort_keys=False)
        path.write_text(text)

    @classmethod
    def load(cls, path: str | Path) -> "Schedule":
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"schedule file not found: {path}")
        text = path.read_text()
        return cls.from_dict(json.loads(text) if path.suffix == ".json" else yaml.safe_load(text))

    # ------------------------------------------------------------------ display
    def table(self, costs: list[float] | None = None) -> str:
        """A plain-text table of the stages; ``costs`` (relative computation per epoch) adds a column."""
        head = f"{'stage':>5} {'epochs':>13} {'B':>5} {'RandAug m':>11} {'batch x':>8} {'lr x':>6} {'replay':>6}"
        head += f" {'cost/epoch':>10}" if costs else ""
        rows = [f"schedule {self.name!r}, {self.epochs} epochs", head]
        for i, s in enumerate(self.stages):
            first, end = self.stage_epochs(i)
            m = f"{s.magnitude[0]:.1f}->{s.magnitude[1]:.1f}" if s.magnitude[0] != s.magnitude[1] else (
                f"{s.magnitude[0]:.1f}")
            span = f"{first + 1}-{end}" if end > first else "none"
            row = f"{i:>5} {span:>13} {s.size:>5} {m:>11} {s.batch_scale:>8g} {s.lr_scale:>6g}"
            row += f" {s.replay:>6}" + (f" {costs[i]:>10.3f}" if costs else "")
            rows.append(row)
        return "\n".join(rows)
