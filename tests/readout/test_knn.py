"""Weighted kNN against a brute-force NumPy reference: whole bank, chunked bank and queries, and two processes."""
import os
import tempfile

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from readout.knn import knn_accuracy, knn_predict


def reference(bank, bank_labels, queries, num_classes, k, tau):
    """Wu et al. 2018 / DINO written out: cosine similarity, the k largest, votes exp(s / tau) per class."""
    bank = bank / np.linalg.norm(bank, axis=1, keepdims=True)
    queries = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    sims = queries.astype(np.float64) @ bank.T.astype(np.float64)
    predictions = []
    for row in sims:
        nearest = np.argsort(-row, kind="stable")[:min(k, len(row))]
        votes = np.zeros(num_classes)
        np.add.at(votes, bank_labels[nearest], np.exp(row[nearest] / tau))
        predictions.append(int(np.argmax(votes)))
    return np.array(predictions)


def problem(seed=0, n=300, q=57, d=16, classes=7):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, d))
    bank_labels = rng.integers(0, classes, n)
    bank = centres[bank_labels] + rng.normal(scale=1.5, size=(n, d))
    query_labels = rng.integers(0, classes, q)
    queries = centres[query_labels] + rng.normal(scale=1.5, size=(q, d))
    return bank.astype(np.float32), bank_labels, queries.astype(np.float32), query_labels, classes


@pytest.mark.parametrize("chunks", [{}, {"query_chunk": 10, "bank_chunk": 37}, {"query_chunk": 1, "bank_chunk": 1}])
@pytest.mark.parametrize("tau", [0.07, 0.5])
def test_matches_brute_force(chunks, tau):
    bank, bank_labels, queries, _, classes = problem()
    got = knn_predict(torch.from_numpy(bank), torch.from_numpy(bank_labels), torch.from_numpy(queries), classes,
                      ks=(1, 20, 200), tau=tau, distributed=False, **chunks)
    for k in (1, 20, 200):
        np.testing.assert_array_equal(got[k].numpy(), reference(bank, bank_labels, queries, classes, k, tau))
    # the vote changes with k here, so a k that was ignored would show
    assert not np.array_equal(got[1].numpy(), got[200].numpy())


def test_k_beyond_the_bank_uses_the_whole_bank_and_accuracy_counts_hits():
    bank, bank_labels, queries, query_labels, classes = problem(n=12, q=30)
    got = knn_accuracy(torch.from_numpy(bank), torch.from_numpy(bank_labels), torch.from_numpy(queries),
                       torch.from_numpy(query_labels), classes, ks=(200,), tau=0.07, distributed=False)
    expected = (reference(bank, bank_labels, queries, classes, 12, 0.07) == query_labels).mean() * 100
    assert got[200] == pytest.approx(expected)


def _rank(rank, world, init, shards, queries, classes, out):
    dist.init_process_group("gloo", init_method=f"file://{init}", rank=rank, world_size=world)
    try:
        bank, labels = shards[rank]
        got = knn_predict(bank, labels, queries, classes, ks=(5, 20, 200), bank_chunk=16, query_chunk=8)
        torch.save({k: v for k, v in got.items()}, f"{out}.{rank}")
    finally:
        dist.destroy_process_group()


def test_two_processes_with_a_sharded_bank_match_one():
    bank, bank_labels, queries, _, classes = problem(seed=3, n=101)
    bank, bank_labels, queries = map(torch.from_numpy, (bank, bank_labels, queries))
    # uneven shards, as rank::world_size gives them; the second holds fewer rows than k = 200
    shards = [(bank[0::2], bank_labels[0::2]), (bank[1::2], bank_labels[1::2])]
    with tempfile.TemporaryDirectory() as folder:
        out = os.path.join(folder, "predictions")
        mp.start_processes(_rank, args=(2, os.path.join(folder, "init"), shards, queries, classes, out), nprocs=2,
                           start_method="spawn")
        parts = [torch.load(f"{out}.{r}") for r in range(2)]
    single = knn_predict(bank, bank_labels, queries, classes, ks=(5, 20, 200), distributed=False)
    for k in (5, 20, 200):
        torch.testing.assert_close(parts[0][k], single[k])
        torch.testing.assert_close(parts[1][k], single[k])


def test_command_under_torchrun_reads_what_one_process_reads(image_folder, tmp_path, torchrun_slot):
    """Two processes: each extracts its half of bank and queries, the bank stays sharded, the result is the same."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    sets = ["model.name=vit_tiny_patch16_224", "model.patch_size=8", "model.embed_dim=64", "model.depth=2",
            "model.num_heads=2", "model.img_size=64", f"data.path={image_folder}", "data.num_workers=0", "k=[3,20,200]"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(repo)}
    results = {}
    for name, launcher in (("one", []), ("two", ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"])):
        done = subprocess.run([sys.executable, *launcher, "-m", "readout.knn", *[f"--set={s}" for s in sets],
                               f"--set=run.output_dir={tmp_path / name}"], cwd=repo, capture_output=True, text=True,
                              timeout=300, env=env)
        assert done.returncode == 0, done.stderr[-3000:]
        results[name] = json.loads((tmp_path / name / "knn.json").read_text())
    assert results["two"]["top1"] == results["one"]["top1"]
    assert results["two"]["bank"] == results["one"]["bank"] == 300 and results["two"]["queries"] == 100


def test_options_the_readouts_ignore_are_one_line(image_folder, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    for module, sets, key in (
            ("readout.knn", ["model.name=resnet10t", "pools=[avg]", "run.compile=true"], "run.compile=True"),
            ("readout.knn", ["model.name=resnet10t", "pools=[avg]", "run.save_minutes=5"], "run.save_minutes=5.0"),
            ("readout.linseg", ["model.name=resnet10t", "model.img_size=96"], "model.img_size=96"),
            ("readout.linseg", ["model.name=resnet10t", "run.amp=bf16"], "run.amp='bf16'"),
            ("readout.linprobe", ["model.name=resnet10t", "pool=avg", "mode=cached", "optim.accum_iter=2"],
             "optim.accum_iter=2"),
            ("pretrain_mae", ["eval.every=2"], "eval.every=2")):
        done = subprocess.run([sys.executable, "-m", module, *[f"--set={s}" for s in sets],
                               f"--set=data.path={image_folder}", f"--set=run.output_dir={tmp_path}"], cwd=repo,
                              capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(repo)})
        assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
        assert f"config key {key} has no effect on" in done.stderr
