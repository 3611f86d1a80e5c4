"""What a benchmark report says it was measured from."""
import subprocess

from benchmarks.provenance import commit


def test_commit_is_the_checkout_and_says_when_the_tree_differs(monkeypatch):
    monkeypatch.delenv("BENCH_COMMIT", raising=False)
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True,
                           check=True).stdout.strip()
    assert commit() == head + ("+modified" if dirty else "")


def test_a_copied_tree_is_told_its_commit(monkeypatch):
    monkeypatch.setenv("BENCH_COMMIT", "0123abc")
    assert commit() == "0123abc"
