"""What a benchmark report says it was measured from, read from a repository the test makes."""
import os
import subprocess

from benchmarks.provenance import commit

GIT = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}


def git(tree, *args):
    subprocess.run(["git", *args], cwd=tree, check=True, capture_output=True, env={**os.environ, **GIT})


def test_commit_names_the_checkout_and_says_when_tracked_files_differ(tmp_path, monkeypatch):
    monkeypatch.delenv("BENCH_COMMIT", raising=False)
    git(tmp_path, "init", "-q", "-b", "main")
    (tmp_path / "tracked.txt").write_text("one\n")
    git(tmp_path, "add", "tracked.txt")
    git(tmp_path, "commit", "-q", "-m", "first")
    head = (tmp_path / ".git" / "refs" / "heads" / "main").read_text().strip()  # the commit, read from its file
    assert len(head) == 40 and commit(tmp_path) == head[:7]
    (tmp_path / "untracked.txt").write_text("new\n")
    assert commit(tmp_path) == head[:7]  # files git does not track change nothing
    (tmp_path / "tracked.txt").write_text("two\n")
    assert commit(tmp_path) == head[:7] + "+modified"
    assert commit(tmp_path.parent / "not-a-repository-here") == "unknown"


def test_a_copied_tree_is_told_its_commit(monkeypatch):
    monkeypatch.setenv("BENCH_COMMIT", "0123abc")
    assert commit() == "0123abc"
