"""Curriculum schedules as data: stages over the fraction of training, looked up by epoch.

A ``Schedule`` holds ``epochs`` (the real length of training: epochs' worth of optimisation steps, possibly
fractional) and a tuple of contiguous ``Stage``s covering the training fraction ``[0, 1]``. Each stage fixes the input
size ``B`` (the low-frequency crop), a RandAugment magnitude that moves linearly from ``magnitude[0]`` at the stage's
start to ``magnitude[1]`` at its end, a batch-size multiplier, an extra learning-rate multiplier, and the replay
factor ``r`` of the EfficientTrain++ replay buffer with its size in loaded batches. A replayed stage keeps its
steps and its computation; only its data loading shrinks: the loader passes over the data ``r`` times less
(``loader_epochs``).

Training progress (what the learning-rate warm-up and cosine follow) is a property of the schedule:

* ``progress="epochs"`` (EfficientTrain, ICCV 2023; its official code schedules the lr over epochs):
  ``progress(e) = e / epochs``;
* ``progress="computation"`` (EfficientTrain++, TPAMI 2024): the fraction of the computation budget spent, in
  pixels, ``sum over elapsed stages of epochs_s (B_s / v)^2 / budget``. This is what the official per-stage runs do:
  each run schedules its lr over ``rp_epoch = E (224 / B)^2 / replay`` loader epochs and rescales the start epoch by
  ``(B_prev / B)^2`` (LeapLabTHU/EfficientTrain ``_ET_pp_main_*.py`` and ``utils_buffer.py: auto_load_model``).

``budget`` is the computation in final-size-equivalent epochs (``sum epochs_s (B_s / v)^2``): for an ET++ schedule it
is the ``--epoch E`` of the official scripts, for the baseline it equals ``epochs``. ``warmup`` is the linear lr
warm-up the schedule asks for, in budget-equivalent epochs (``None``: the trainer's own setting).
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import yaml

__all__ = ["Stage", "StageValues", "Schedule", "round_size", "PROGRESS_MODES"]

PROGRESS_MODES = ("epochs", "computation")


def round_size(size: float, multiple: int | None = None) -> int:
    """Round ``size`` to the nearest multiple of ``multiple`` (at least one multiple), or to an int if ``None``."""
    if multiple is None:
        return max(1, int(round(size)))
    if multiple <= 0:
        raise ValueError(f"rounding multiple must be positive, got {multiple}")
    return max(multiple, int(round(size / multiple)) * multiple)


@dataclass(frozen=True)
class Stage:
    """One curriculum stage on the training fraction ``[start, end)``.

    ``replay`` (r) and ``buffer_batches`` (N): every step loads ``batch / r`` fresh samples and fills the rest of the
    batch from a buffer of the ``N`` most recently loaded batches (``curriculum.replay``).

    ``fold`` (k): every ``k`` gradient-accumulation steps run as one step on a batch ``k`` times larger, as the official
    launchers do below the final size (LeapLabTHU/EfficientTrain ``_ET_pp_main_*.py``, ``bs_list`` / ``up_freq_list``:
    256 x 2 per GPU at B=160 against 128 x 4 at 224): an update's samples, the global batch and the optimisation are
    unchanged, and a small input keeps the device as busy as the final size does. The trainer's accumulation must be
    a multiple of ``k``.
    """

    start: float
    end: float
    size: int
    magnitude: tuple[float, float] = (9.0, 9.0)
    batch_scale: float = 1.0
    lr_scale: float = 1.0
    replay: int = 1
    buffer_batches: int = 0
    fold: int = 1

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
        if not (isinstance(self.buffer_batches, int) and self.buffer_batches >= 0):
            raise ValueError(f"buffer_batches must be an int >= 0, got {self.buffer_batches!r}")
        if self.replay > 1 and self.buffer_batches < 1:
            raise ValueError(f"a stage with replay {self.replay} needs a replay buffer (buffer_batches >= 1)")
        if not (isinstance(self.fold, int) and self.fold >= 1):
            raise ValueError(f"fold must be an int >= 1, got {self.fold!r}")
        if self.fold > 1 and self.replay > 1:
            raise ValueError(f"a stage cannot both fold ({self.fold}) and replay ({self.replay}): its replay buffer "
                             f"counts loaded batches of the official batch size")


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
    """A curriculum: ``epochs`` of training split into contiguous stages; see the module docstring."""

    name: str
    epochs: float
    stages: tuple[Stage, ...]
    progress_by: str = "epochs"
    warmup: float | None = None

    def __post_init__(self):
        object.__setattr__(self, "stages", tuple(self.stages))
        if isinstance(self.epochs, bool) or not isinstance(self.epochs, (int, float)) or not self.epochs > 0 \
                or not math.isfinite(self.epochs):
            raise ValueError(f"schedule epochs must be a positive number, got {self.epochs!r}")
        if self.progress_by not in PROGRESS_MODES:
            raise ValueError(f"progress_by must be one of {PROGRESS_MODES}, got {self.progress_by!r}")
        if self.warmup is not None and self.warmup < 0:
            raise ValueError(f"warmup must be >= 0 budget epochs, got {self.warmup}")
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

    def stage_span(self, i: int) -> tuple[float, float]:
        """Epoch range ``[first, end)`` of stage ``i`` (fractional)."""
        s = self.stages[i]
        return s.start * self.epochs, s.end * self.epochs

    def stage_index(self, epoch: float) -> int:
        """Index of the stage active at ``epoch`` (0-based, fractional allowed, ``0 <= epoch <= epochs``)."""
        if not -1e-9 <= epoch <= self.epochs * (1 + 1e-12) + 1e-9:
            raise ValueError(f"epoch {epoch} is outside this schedule's 0..{self.epochs:g}")
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

    # ------------------------------------------------------------------ computation and progress
    def pixel_cost(self, i: int) -> float:
        """Computation of one epoch of stage ``i`` relative to one at the final size, counted in pixels."""
        return (self.stages[i].size / self.final_size) ** 2

    @property
    def budget(self) -> float:
        """Computation in final-size-equivalent epochs (pixels): ``sum epochs_s (B_s / v)^2``."""
        return sum((s.end - s.start) * self.epochs * self.pixel_cost(i) for i, s in enumerate(self.stages))

    @property
    def loader_epochs(self) -> float:
        """Passes of the data loader over the training set: a replayed stage loads ``r`` times less."""
        return sum((s.end - s.start) * self.epochs / s.replay for s in self.stages)

    def progress(self, epoch: float) -> float:
        """Fraction of training done at ``epoch``, in epochs or in computation (``progress_by``)."""
        epoch = min(max(epoch, 0.0), self.epochs)
        if self.progress_by == "epochs":
            return epoch / self.epochs
        spent = 0.0
        for i, s in enumerate(self.stages):
            first, end = self.stage_span(i)
            spent += max(0.0, min(epoch, end) - first) * self.pixel_cost(i)
        return min(spent / self.budget, 1.0)

    # ------------------------------------------------------------------ transforms
    def with_epochs(self, epochs: float) -> "Schedule":
        """The same stages over ``epochs`` real epochs (the budget scales with it)."""
        return replace(self, epochs=epochs)

    def with_budget(self, budget: float) -> "Schedule":
        """The same stages scaled so that their computation is ``budget`` final-size-equivalent epochs."""
        if not budget > 0:
            raise ValueError(f"a computation budget must be positive, got {budget}")
        scale = budget / self.budget
        warmup = None if self.warmup is None else self.warmup * scale
        return replace(self, epochs=self.epochs * scale, warmup=warmup)

    def with_sizes(self, sizes: list[int]) -> "Schedule":
        if len(sizes) != len(self.stages):
            raise ValueError(f"expected {len(self.stages)} sizes, got {len(sizes)}")
        return replace(self, stages=tuple(replace(s, size=int(b)) for s, b in zip(self.stages, sizes)))

    def rounded(self, multiple: int) -> "Schedule":
        """Round every size to the nearest multiple of ``multiple`` (e.g. the ViT patch size), at least one."""
        return self.with_sizes([round_size(s.size, multiple) for s in self.stages])

    # ------------------------------------------------------------------ I/O
    def to_dict(self) -> dict:
        return {"name": self.name, "epochs": self.epochs, "progress_by": self.progress_by, "warmup": self.warmup,
                "stages": [{**asdict(s), "magnitude": list(s.magnitude)} for s in self.stages]}

    @classmethod
    def from_dict(cls, data: dict) -> "Schedule":
        unknown = set(data) - {"name", "epochs", "stages", "progress_by", "warmup"}
        if unknown:
            raise ValueError(f"unknown schedule keys: {sorted(unknown)}")
        try:
            stages = tuple(Stage(**s) for s in data["stages"])
            return cls(name=str(data.get("name", "custom")), epochs=data["epochs"], stages=stages,
                       progress_by=data.get("progress_by", "epochs"), warmup=data.get("warmup"))
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
        """A plain-text table of the stages (epochs are real epochs of steps; ``loader ep.`` the data passes);
        ``costs`` (model computation per epoch relative to the final size) adds a column."""
        head = (f"{'stage':>5} {'epochs':>15} {'B':>5} {'RandAug m':>11} {'batch x':>8} {'lr x':>5} {'replay':>6} "
                f"{'loader ep.':>10} {'budget':>8}") + (f" {'cost/epoch':>10}" if costs else "")
        rows = [f"schedule {self.name!r}: {_num(self.epochs)} epochs of steps, budget {_num(self.budget)} "
                f"final-size epochs, {_num(self.loader_epochs)} loader epochs, lr progress by {self.progress_by}"
                + ("" if self.warmup is None else f", warm-up {_num(self.warmup)} budget epochs"), head]
        for i, s in enumerate(self.stages):
            first, end = self.stage_span(i)
            m = f"{s.magnitude[0]:.1f}->{s.magnitude[1]:.1f}" if s.magnitude[0] != s.magnitude[1] else (
                f"{s.magnitude[0]:.1f}")
            span = f"{_num(first)}-{_num(end)}"
            row = (f"{i:>5} {span:>15} {s.size:>5} {m:>11} {s.batch_scale:>8g} {s.lr_scale:>5g} {s.replay:>6} "
                   f"{_num((end - first) / s.replay):>10} {_num((end - first) * self.pixel_cost(i)):>8}")
            rows.append(row + (f" {costs[i]:>10.3f}" if costs else ""))
        return "\n".join(rows)


def _num(x: float) -> str:
    """Epoch counts: integers as such, otherwise one decimal."""
    return f"{x:.0f}" if abs(x - round(x)) < 1e-6 else f"{x:.1f}"
