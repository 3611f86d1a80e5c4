"""Searches against brute-force enumeration with small non-separable evaluators."""
import itertools
import random

import pytest

from curriculum.search import constrained_search, greedy_search

CANDIDATES = (96, 128, 160, 192, 224)


def sizes_of(schedule):
    return tuple(st.size for st in schedule.stages)


def penalty_evaluator(weights, slack, interaction):
    """Accuracy 80 minus a non-separable penalty that grows as any size shrinks (monotone in every size)."""
    def evaluate(schedule):
        sizes = sizes_of(schedule)
        shrink = [(224 - b) / 32 for b in sizes]
        linear = sum(w * s for w, s in zip(weights, shrink))
        return 80.0 - max(0.0, linear - slack) - interaction * shrink[0] * shrink[1]
    return evaluate


def monotone_lowerings(sizes):
    """Every schedule that lowers one non-final stage to the next smaller candidate, sizes kept non-decreasing."""
    for j in range(len(sizes) - 1):
        smaller = [c for c in CANDIDATES if c < sizes[j]]
        if smaller and (j == 0 or smaller[-1] >= sizes[j - 1]):
            yield sizes[:j] + (smaller[-1],) + sizes[j + 1:]


def test_greedy_search_visits_every_stage():
    """A stage that cannot shrink does not end the search (the issue's toy case)."""
    evaluate = lambda s: 80.0 - sum(b < 224 for b in sizes_of(s)[1:])  # noqa: E731 - only stage 0 may shrink
    result = greedy_search(evaluate, epochs=100, stages=5)
    assert sizes_of(result.schedule) == (96, 224, 224, 224, 224)


@pytest.mark.parametrize("seed", range(6))
def test_greedy_search_is_feasible_and_locally_minimal_by_brute_force(seed):
    rng = random.Random(seed)
    evaluate = penalty_evaluator([rng.uniform(0.2, 2.0) for _ in range(4)], rng.uniform(0.5, 4.0),
                                 rng.uniform(0.0, 0.5))
    result = greedy_search(evaluate, epochs=40, stages=4, candidates=CANDIDATES)
    found = sizes_of(result.schedule)
    assert list(found) == sorted(found) and found[-1] == 224
    assert evaluate(result.schedule) >= result.baseline_accuracy
    # brute force over all one-step lowerings: none keeps the baseline accuracy
    for lower in monotone_lowerings(found):
        trial = [t for t, _ in result.trials if t == lower]
        acc = evaluate(type(result.schedule)(result.schedule.name, 40, tuple(
            st.__class__(st.start, st.end, b, st.magnitude) for st, b in zip(result.schedule.stages, lower))))
        assert acc < result.baseline_accuracy, (found, lower, trial)
    assert all(list(s) == sorted(s) for s, _ in result.trials)


def test_greedy_search_respects_tolerance():
    evaluate = lambda s: 80.0 - sum(b < 224 for b in sizes_of(s))  # noqa: E731
    assert sizes_of(greedy_search(evaluate, epochs=10, stages=4).schedule) == (224,) * 4
    tolerant = greedy_search(evaluate, epochs=10, stages=4, tolerance=3.0)
    assert sizes_of(tolerant.schedule) == (96, 96, 96, 224)


def table_evaluator(table, default=78.0):
    return lambda schedule: table.get(sizes_of(schedule), default)


def test_constrained_search_judges_against_the_chosen_prefix():
    """The issue's case: after scoring [96,224,224,224] at 81.5 the search must not settle for 80.5."""
    table = {(224,) * 4: 80.0, (96, 224, 224, 224): 81.5, (96, 96, 224, 224): 80.9, (96, 96, 96, 224): 80.5,
             (96, 160, 224, 224): 81.0, (96, 96, 160, 224): 80.7, (96, 224, 224, 224): 81.5}
    result = constrained_search(table_evaluator(table), epochs=20, stages=4, candidates=(96, 160, 224))
    assert sizes_of(result.schedule) == (96, 224, 224, 224)


@pytest.mark.parametrize("seed", range(6))
def test_constrained_search_matches_brute_force_sequential_choice(seed):
    """Non-separable random accuracies: every stage's choice is the brute-force best given the prefix."""
    rng = random.Random(seed)
    candidates, stages = (96, 160, 192, 224), 4
    table = {sizes: rng.uniform(78, 82) for sizes in itertools.product(candidates, repeat=stages)}
    evaluate = table_evaluator(table)
    found = sizes_of(constrained_search(evaluate, epochs=20, stages=stages, candidates=candidates).schedule)
    prefix = ()
    for i in range(stages - 1):
        options = [b for b in candidates if not prefix or b >= prefix[-1]]
        scores = {b: table[prefix + (b,) + (224,) * (stages - i - 1)] for b in options}
        best = max(scores.values())
        prefix += (min(b for b, acc in scores.items() if acc == best),)
    assert found == prefix + (224,)


def test_equal_compute_segments():
    result = constrained_search(penalty_evaluator([1, 1, 1, 1, 1], 3, 0.1), epochs=50, stages=5)
    budgets = [(st.end - st.start) * st.size ** 2 for st in result.schedule.stages]
    assert max(budgets) == pytest.approx(min(budgets))


def test_search_input_errors():
    with pytest.raises(ValueError, match="at least 2 stages"):
        greedy_search(lambda s: 0.0, epochs=10, stages=1)
    with pytest.raises(ValueError, match="at most the final size"):
        greedy_search(lambda s: 0.0, epochs=10, stages=3, candidates=(96, 256))
