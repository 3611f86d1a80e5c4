"""Searches that derive a curriculum from a user-supplied ``train_and_evaluate(schedule) -> accuracy``.

* ``greedy_search`` -- EfficientTrain (ICCV 2023) Algorithm 1. Training is split into ``T`` equal stages, all at the
  final size at first. Going from the last-but-one stage backwards over *every* stage, stage ``i`` (and with it
  every earlier stage that is larger, so that sizes never decrease over training) takes the smallest candidate
  ``B`` for which the trained model still reaches the baseline accuracy; a stage that cannot be shrunk keeps its
  size and the search moves on to the stage before it. The last stage stays at the final size.
* ``constrained_search`` -- the computation-constrained sequential search of EfficientTrain++ (TPAMI 2024,
  Sec. 5): training is split into ``T`` segments of equal *computation*; going forwards, segment ``i`` takes the
  candidate ``B >= B_{i-1}`` with the highest accuracy (ties go to the smaller ``B``) given the prefix already
  chosen, the segments after it at the final size. Every choice is judged against that prefix (the final size for
  segment ``i`` being one of the candidates), not against the all-final-size baseline. A segment at size ``B`` is given ``(final/B)^2`` times the epochs of one at the final
  size, so every candidate costs the same and only its accuracy decides.

Both return a ``SearchResult`` with the schedule found and every evaluation made, in order.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable, Sequence

from .schedule import Schedule, Stage

__all__ = ["SearchResult", "greedy_search", "constrained_search", "equal_stages", "equal_compute_stages"]

Evaluator = Callable[[Schedule], float]


@dataclass
class SearchResult:
    schedule: Schedule
    baseline_accuracy: float
    trials: list[tuple[tuple[int, ...], float]] = field(default_factory=list)


def _check(candidates: Sequence[int], final_size: int, stages: int) -> list[int]:
    if stages < 2:
        raise ValueError(f"a curriculum search needs at least 2 stages, got {stages}")
    sizes = sorted(set(int(c) for c in candidates))
    if not sizes or sizes[0] <= 0 or sizes[-1] > final_size:
        raise ValueError(f"candidate sizes must be positive and at most the final size {final_size}, got "
                         f"{list(candidates)}")
    return sizes


def equal_stages(sizes: Sequence[int], epochs: int, magnitude: tuple[float, float] = (9.0, 9.0),
                 name: str = "searched") -> Schedule:
    """Stages of equal length with the given sizes; the magnitude ramps linearly from ``magnitude[0]`` to ``[1]``."""
    n = len(sizes)
    m0, m1 = magnitude
    return Schedule(name, epochs, tuple(
        Stage(i / n, 1.0 if i == n - 1 else (i + 1) / n, int(b), (m0 + (m1 - m0) * i / n, m0 + (m1 - m0) * (i + 1) / n))
        for i, b in enumerate(sizes)))


def equal_compute_stages(sizes: Sequence[int], epochs: int, magnitude: tuple[float, float] = (9.0, 9.0),
                         name: str = "searched") -> Schedule:
    """Stages whose lengths are proportional to ``(final/B)^2`` (equal computation per stage)."""
    equal = equal_stages(sizes, epochs, magnitude, name)
    weights = [(sizes[-1] / b) ** 2 for b in sizes]
    total, start, stages = sum(weights), 0.0, []
    for i, (stage, w) in enumerate(zip(equal.stages, weights)):
        end = 1.0 if i == len(sizes) - 1 else start + w / total
        stages.append(replace(stage, start=start, end=end))
        start = end
    return replace(equal, stages=tuple(stages))


def greedy_search(train_and_evaluate: Evaluator, epochs: int, final_size: int = 224, stages: int = 5,
                  candidates: Sequence[int] = (96, 128, 160, 192, 224), magnitude: tuple[float, float] = (0.0, 9.0),
                  tolerance: float = 0.0) -> SearchResult:
    """EfficientTrain Algorithm 1: minimise the sizes, from the last stage backwards, keeping baseline accuracy."""
    sizes_available = _check(candidates, final_size, stages)
    sizes = [final_size] * stages
    baseline = train_and_evaluate(equal_stages(sizes, epochs, magnitude))
    result = SearchResult(equal_stages(sizes, epochs, magnitude), baseline, [(tuple(sizes), baseline)])
    for i in range(stages - 2, -1, -1):
        for b in sorted((c for c in sizes_available if c < sizes[i]), reverse=True):
            trial = [min(s, b) for s in sizes[:i + 1]] + sizes[i + 1:]
            accuracy = train_and_evaluate(equal_stages(trial, epochs, magnitude))
            result.trials.append((tuple(trial), accuracy))
            if accuracy < baseline - tolerance:
                break
            sizes = trial
    result.schedule = equal_stages(sizes, epochs, magnitude)
    return result


def constrained_search(train_and_evaluate: Evaluator, epochs: int, final_size: int = 224, stages: int = 10,
                       candidates: Sequence[int] = (96, 128, 160, 192, 224),
                       magnitude: tuple[float, float] = (0.0, 9.0)) -> SearchResult:
    """EfficientTrain++ computation-constrained sequential search over equal-computation segments."""
    sizes_available = _check(candidates, final_size, stages)
    sizes = [final_size] * stages
    baseline = train_and_evaluate(equal_compute_stages(sizes, epochs, magnitude))
    result = SearchResult(equal_compute_stages(sizes, epochs, magnitude), baseline, [(tuple(sizes), baseline)])
    lowest, prefix_accuracy = min(sizes_available), baseline  # the accuracy of sizes[:i] + [final] * (T - i)
    for i in range(stages - 1):
        best_size, best_accuracy = final_size, prefix_accuracy
        for b in (c for c in sizes_available if c >= lowest and c < final_size):
            trial = sizes[:i] + [b] + [final_size] * (stages - i - 1)
            accuracy = train_and_evaluate(equal_compute_stages(trial, epochs, magnitude))
            result.trials.append((tuple(trial), accuracy))
            if accuracy > best_accuracy or (accuracy == best_accuracy and b < best_size):
                best_size, best_accuracy = b, accuracy
        sizes[i], prefix_accuracy = best_size, best_accuracy
        lowest = best_size
    result.schedule = equal_compute_stages(sizes, epochs, magnitude)
    return result
