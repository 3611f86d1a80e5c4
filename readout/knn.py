"""Weighted k-nearest-neighbour classification of frozen features (Wu et al., CVPR 2018, Sec. 3.4; DINO's
``eval_knn.py``).

Features are L2-normalised and compared by cosine similarity. Each of the ``k`` most similar bank samples votes for
its class with weight ``exp(sim / tau)``; the class with the largest sum wins (ties to the lower class index).
``tau = 0.07`` and ``k in {20, 200}`` follow Wu et al. and DINO; lightly's ``BenchmarkModule`` uses ``tau = 0.1``
(``lightly/utils/benchmarking/knn.py``), so its numbers are not comparable one to one.

``knn_predict`` never holds the whole similarity matrix: queries go in chunks of ``query_chunk`` and the bank in
chunks of ``bank_chunk`` with a running top-k, so an ImageNet bank (1.28 M x 768) needs only the bank itself plus
``query_chunk x bank_chunk`` similarities. Under torch.distributed every process passes its own shard of the bank
and the same queries: each finds the top-k of its shard, the candidates are gathered, and every process returns the
predictions of the whole bank.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Iterable

import torch
import torch.distributed as dist
import torch.nn.functional as F

from engine.cli import main_guard
from engine.config import parse_args, refuse_unused, to_dict
from engine.distributed import DistInfo, run_distributed
from engine.runtime import resolve_amp

from .config import KNNConfig
from .data import Transformed, eval_transform
from .encoder import prepare
from .features import check_pools, dataset_features

__all__ = ["knn_predict", "knn_accuracy", "knn_readout", "TAU", "KS"]

TAU = 0.07
KS = (20, 200)


def _top_of_shard(bank: torch.Tensor, bank_labels: torch.Tensor, queries: torch.Tensor, k: int,
                  bank_chunk: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` most similar rows of ``bank`` for every query: ``(similarities, labels)``, each ``[q, k]``."""
    best = queries.new_full((queries.shape[0], 0), -float("inf"))
    labels = bank_labels.new_zeros((queries.shape[0], 0))
    for start in range(0, bank.shape[0], bank_chunk):
        sims = queries @ bank[start:start + bank_chunk].T
        candidates = torch.cat([best, sims], dim=1)
        candidate_labels = torch.cat([labels, bank_labels[start:start + bank_chunk].expand(queries.shape[0], -1)], 1)
        best, where = candidates.topk(min(k, candidates.shape[1]), dim=1)
        labels = candidate_labels.gather(1, where)
    return best, labels


def _gather_candidates(sims: torch.Tensor, labels: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Merge every process's top-k into the global top-k (shards with fewer than ``k`` rows are padded)."""
    world = dist.get_world_size()
    pad = k - sims.shape[1]
    sims = F.pad(sims, (0, pad), value=-float("inf"))
    labels = F.pad(labels, (0, pad), value=0)
    all_sims = [torch.empty_like(sims) for _ in range(world)]
    all_labels = [torch.empty_like(labels) for _ in range(world)]
    dist.all_gather(all_sims, sims.contiguous())
    dist.all_gather(all_labels, labels.contiguous())
    sims, labels = torch.cat(all_sims, 1), torch.cat(all_labels, 1)
    best, where = sims.topk(k, dim=1)
    return best, labels.gather(1, where)


@torch.no_grad()
def knn_predict(bank: torch.Tensor, bank_labels: torch.Tensor, queries: torch.Tensor, num_classes: int,
                ks: Iterable[int] = KS, tau: float = TAU, query_chunk: int = 1024, bank_chunk: int = 65536,
                distributed: bool | None = None) -> dict[int, torch.Tensor]:
    """Predicted class of every query for each ``k`` in ``ks``: ``{k: int64 [num_queries]}``.

    ``bank`` ``[n, d]`` and ``queries`` ``[q, d]`` are features (normalised here), ``bank_labels`` ``[n]`` their
    classes. ``distributed`` (default: a process group is initialised with more than one process): ``bank`` is this
    process's shard, ``queries`` the same on every process. A ``k`` larger than the whole bank uses the whole bank.
    """
    ks = sorted(set(int(k) for k in ks))
    if not ks or ks[0] < 1:
        raise ValueError(f"k must be positive integers, got {ks}")
    if distributed is None:
        distributed = dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1
    total = bank.shape[0]
    if distributed:
        count = torch.tensor([total], device=bank.device)
        dist.all_reduce(count)
        total = int(count)
    if total == 0:
        raise ValueError("the kNN bank is empty")
    k_max = min(ks[-1], total)
    bank = F.normalize(bank.float(), dim=1)
    queries = F.normalize(queries.float(), dim=1)
    bank_labels = bank_labels.to(torch.int64)
    out: dict[int, list[torch.Tensor]] = {k: [] for k in ks}
    for start in range(0, queries.shape[0], query_chunk):
        chunk = queries[start:start + query_chunk]
        sims, labels = _top_of_shard(bank, bank_labels, chunk, k_max, bank_chunk)
        if distributed:
            sims, labels = _gather_candidates(sims, labels, k_max)
        weights = (sims / tau).exp()
        for k in ks:
            votes = torch.zeros(chunk.shape[0], num_classes, device=chunk.device, dtype=weights.dtype)
            votes.scatter_add_(1, labels[:, :k], weights[:, :k])
            out[k].append(votes.argmax(1))
    return {k: torch.cat(parts) if parts else queries.new_zeros(0, dtype=torch.int64) for k, parts in out.items()}


def knn_accuracy(bank: torch.Tensor, bank_labels: torch.Tensor, queries: torch.Tensor, query_labels: torch.Tensor,
                 num_classes: int, ks: Iterable[int] = KS, tau: float = TAU, **options) -> dict[int, float]:
    """Top-1 (%) of ``knn_predict`` (``options``: its chunk sizes and ``distributed``) for each ``k``."""
    predictions = knn_predict(bank, bank_labels, queries, num_classes, ks, tau, **options)
    labels = query_labels.to(torch.int64).to(queries.device)
    return {k: float((p == labels).float().mean() * 100) for k, p in predictions.items()}


def knn_readout(cfg: KNNConfig) -> dict:
    """The kNN readout of ``cfg``: ``{"<pool>_k<k>": top-1 %}`` and the timings; ``knn.json`` in the output folder."""
    return run_distributed(_knn_readout, cfg)


def _knn_readout(cfg: KNNConfig, info: DistInfo) -> dict:
    refuse_unused(cfg, ["run.resume", "run.compile", "run.save_every", "run.save_minutes", "run.log_images_every",
                        "run.progress"],
                  "the kNN readout (it trains nothing)")
    train_set, val_set, encoder = prepare(cfg, info)
    pools = check_pools(encoder, cfg.pools)
    transform = eval_transform(cfg.model.img_size, cfg.data.crop_pct)
    extract = dict(pools=pools, info=info, batch_size=cfg.batch_size, num_workers=cfg.data.num_workers,
                   amp_dtype=resolve_amp(cfg.run.amp, info.device, None))
    started = time.perf_counter()
    bank, bank_labels = dataset_features(encoder, Transformed(train_set, transform), gather=False, **extract)
    queries, query_labels = dataset_features(encoder, Transformed(val_set, transform), **extract)
    extracted = time.perf_counter()
    result = {}
    for pool in pools:
        accuracy = knn_accuracy(bank[pool], bank_labels, queries[pool], query_labels, len(train_set.classes), cfg.k,
                                cfg.tau)
        result.update({f"{pool}_k{k}": round(value, 3) for k, value in accuracy.items()})
    timing = {"extract_time_s": round(extracted - started, 3), "knn_time_s": round(time.perf_counter() - extracted, 3)}
    if info.is_main:
        summary = {"readout": "kNN", "encoder": cfg.model.pretrained or "random initialisation", "tau": cfg.tau,
                   "bank": len(train_set), "queries": len(val_set), "top1": result, **timing, "config": to_dict(cfg)}
        out = Path(cfg.run.output_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "knn.json").write_text(json.dumps(summary, indent=1) + "\n")
        print(f"kNN (tau {cfg.tau:g}, bank {len(train_set)}, {len(val_set)} queries) of {summary['encoder']}: " +
              ", ".join(f"{key} {value:.2f} %" for key, value in result.items()) +
              f" (features {timing['extract_time_s']:.1f} s, kNN {timing['knn_time_s']:.1f} s)")
    return {**result, **timing}


@main_guard()
def main(argv=None) -> None:
    knn_readout(parse_args(KNNConfig, "kNN readout of a frozen encoder", argv))


if __name__ == "__main__":
    main()
