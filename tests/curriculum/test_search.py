"""Searches with a cheap fake evaluator whose optimum is known."""
import pytest

from curriculum.search import constrained_search, greedy_search


def fake_accuracy(threshold):
    """Accuracy stays at 80 while every stage i of T is at least threshold[i]; each violation costs a point."""
    def evaluate(schedule):
        sizes = [st.size for st in schedule.stages]
        return 80.0 - sum(b < t for b, t in zip(sizes, threshold))
    return evaluate


def test_greedy_search_finds_known_optimum():
    threshold = [128, 128, 160, 192, 224]
    result = greedy_search(fake_accuracy(threshold), epochs=100, stages=5)
    assert [st.size for st in result.schedule.stages] == threshold
    assert result.baseline_accuracy == 80.0
    assert all(len(sizes) == 5 for sizes, _ in result.trials)
    # sizes never decrease over training in any trial
    assert all(list(s) == sorted(s) for s, _ in result.trials)


def test_greedy_search_respects_tolerance():
    strict = greedy_search(fake_accuracy([224] * 4), epochs=10, stages=4)
    assert [st.size for st in strict.schedule.stages] == [224] * 4
    tolerant = greedy_search(fake_accuracy([224] * 4), epochs=10, stages=4, tolerance=3.0)
    assert [st.size for st in tolerant.schedule.stages] == [96, 96, 96, 224]


def test_constrained_search_prefers_best_then_smallest():
    def evaluate(schedule):
        sizes = [st.size for st in schedule.stages]
        # smaller early sizes give more epochs at equal cost: reward 128 in the first two segments, 192 after
        targets = [128, 128, 192, 192, 224]
        return 70.0 - sum(abs(b - t) for b, t in zip(sizes, targets)) / 32
    result = constrained_search(evaluate, epochs=50, stages=5, candidates=(96, 128, 160, 192, 224))
    assert [st.size for st in result.schedule.stages] == [128, 128, 192, 192, 224]
    budgets = [(st.end - st.start) * st.size ** 2 for st in result.schedule.stages]
    assert max(budgets) == pytest.approx(min(budgets))


def test_search_input_errors():
    with pytest.raises(ValueError, match="at least 2 stages"):
        greedy_search(fake_accuracy([224]), epochs=10, stages=1)
    with pytest.raises(ValueError, match="at most the final size"):
        greedy_search(fake_accuracy([224] * 3), epochs=10, stages=3, candidates=(96, 256))
