"""Where does the MAE loader's time go? Four measurements on a folder of JPEGs, for deciding what to speed up:

* worker stages: milliseconds per image, in one process, to read the file (page cache warm), decode it (Pillow, full scale),
  RandomResizedCrop it to each size ``B`` (the interpolation ``pretrain_mae.data.train_transform`` uses) and flip
  and convert it to a ``uint8`` tensor, next to the whole sample as a worker makes it in ``fft`` mode
  (``CurriculumSamples``: seeding, dispatch and the same steps), so what is not decoding or resampling shows, and
  the worker's whole sample with ``data.decode=device`` (the file's bytes) and ``box`` (the decoded box);
* loader scaling: loader-only images/s (``pretrain_speed.Probe.loader_rate``) at the final size for each worker
  count given, and per worker, to see whether the loader scales with cores or runs out of them. The batches are
  prepared on ``--device`` as the trainer prepares them (``auto``: the GPU where there is one): normalising a
  ``uint8`` batch on the CPU costs the main process about 1 ms an image, which bounds the loader at high worker
  counts if it is done there for a GPU run;
* batched decoding with ``torchvision.io.decode_jpeg`` on ``--decode-device`` (nvJPEG on a CUDA device,
  libjpeg-turbo on the CPU), alone and followed by the batched crop to each ``B`` as ``data.decode=device`` does it
  (``engine.device_decode.EncodedBatch.decode``): images/s, and the decoder's pixels against Pillow's decode of the
  same files (mean absolute difference, grey levels), so the GPU decoder's price in step time and in pixels is
  known; the crop again with float32 matrix products in TF32 (``torch.set_float32_matmul_precision("high")``;
  tensor cores on a GPU) and how many of its pixels differ from the float32 crop's: a profile on an H200 put
  the crop's float32 products at about 8.5 ms of GPU time a batch of 256 at 224 px, 12 % of ViT-B's step; and the
  crop's fixed cost a batch (``crop_dispatch``: the host's share, what the thread decoding ahead
  of the training step spends whatever the images' size), padding the images as one batch and with a copy each;
* transport: milliseconds per batch for a ``data.decode=device`` batch of ``--decode-batch`` files to cross from
  the loader workers to the training process, as ``EncodedBatch`` sends it (the bytes in one tensor) and as torch
  sends a list of tensors (one shared-memory block a sample), and a ``data.decode=box`` batch (its decoded boxes).

    python benchmarks/loader_costs.py --data /tmp/jpeg-bench --json benchmarks/results/cpu_loader_costs.json
    python benchmarks/loader_costs.py --data /tmp/jpeg-bench --batch 64 --workers 4 8 12 16 --steps 32 \\
        --warmup 16 --decode-device cuda
"""
from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch
import torchvision
from PIL import Image
from torch.utils.data import DataLoader
from torchvision.transforms import InterpolationMode, RandomResizedCrop
from torchvision.transforms import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.config import load_config  # noqa: E402
from engine.data import load_rgb  # noqa: E402
from engine.device_decode import Encoded, EncodedBatch, decode_jpegs  # noqa: E402
from engine.distributed import DistInfo, resolve_device  # noqa: E402
from pretrain_mae.config import PretrainConfig  # noqa: E402
from pretrain_mae.data import train_transform  # noqa: E402

from benchmarks.pretrain_speed import Probe, sync  # noqa: E402
from benchmarks.provenance import command, commit, device_name, write_json  # noqa: E402


def interpolation(size: int, final_size: int) -> InterpolationMode:
    """``train_transform``'s: bicubic to the final size, Lanczos straight to a smaller ``B`` (``resize`` mode)."""
    return InterpolationMode.LANCZOS if size < final_size else InterpolationMode.BICUBIC


def worker_stages(probe: Probe, sizes: list[int], count: int) -> dict:
    """Milliseconds per image of each worker stage over ``count`` images of the probe's dataset (module docstring)."""
    paths = [p for p, _ in probe.dataset.samples][:count]
    if not paths:
        raise ValueError("no images to time")
    final, scale = probe.final_size, (probe.cfg.data.min_scale, 1.0)
    seconds = {"read": 0.0, "decode": 0.0, **{f"crop_{b}": 0.0 for b in sizes}, **{f"tensor_{b}": 0.0 for b in sizes}}
    for path in paths:  # the timed reads then come from the page cache, as in every epoch after the first
        Path(path).read_bytes()
    generator = torch.Generator().manual_seed(0)
    for path in paths:
        start = time.perf_counter()
        data = Path(path).read_bytes()
        seconds["read"] += time.perf_counter() - start
        start = time.perf_counter()
        with Image.open(io.BytesIO(data)) as image:
            image = image.convert("RGB")
        seconds["decode"] += time.perf_counter() - start
        shape = torch.empty(3, image.height, image.width)
        with torch.random.fork_rng():
            torch.manual_seed(int(torch.randint(2 ** 31, (), generator=generator)))
            box = RandomResizedCrop.get_params(shape, scale, (3 / 4, 4 / 3))
        for b in sizes:
            start = time.perf_counter()
            crop = F.resized_crop(image, *box, [b, b], interpolation(b, final))
            seconds[f"crop_{b}"] += time.perf_counter() - start
            start = time.perf_counter()
            F.pil_to_tensor(F.hflip(crop))
            seconds[f"tensor_{b}"] += time.perf_counter() - start
    released = probe.cfg.data.decode
    for decode, name in (("full", "whole_sample_fft"), ("device", "whole_sample_device"), ("box", "whole_sample_box")):
        probe.cfg.data.decode = decode
        samples = probe.samples(final)
        start = time.perf_counter()
        for index in range(len(paths)):
            samples[(index, 0, 0)]
        seconds[name] = time.perf_counter() - start
    probe.cfg.data.decode = released
    return {stage: 1000 * s / len(paths) for stage, s in seconds.items()}


def loader_scaling(probe: Probe, workers: list[int], steps: int, warmup: int) -> list[dict]:
    """Loader-only images/s at the final size for each worker count (``fft`` mode's loader)."""
    rows = []
    for w in workers:
        probe.cfg.data.num_workers = w
        rate = probe.loader_rate(probe.final_size, steps, warmup)
        rows.append({"workers": w, "images_per_s": rate, "images_per_s_per_worker": rate / max(w, 1)})
    return rows


def device_batch(paths: list[str], final_size: int, min_scale: float, size: int, decode: str = "device") \
        -> EncodedBatch:
    """What the loader workers hand over with ``data.decode=decode`` at stage size ``size`` (``resize`` mode)."""
    crop = train_transform(final_size, min_scale, size, "resize", decode).transforms[0]
    torch.manual_seed(0)
    return Encoded.collate([(load_rgb(path, crop.decode), 0, i, 0) for i, path in enumerate(paths)])[0]


def batched_decode(paths: list[str], sizes: list[int], final_size: int, min_scale: float, device: torch.device,
                   repeats: int) -> dict:
    """``paths`` decoded as one batch on ``device`` (``decode_jpegs``: torchvision's decoder, nvJPEG on CUDA),
    alone and as the trainer's ``data.decode=device`` batch cropped to each size (``EncodedBatch.decode``: decode,
    batched crop and flip): images/s (median of ``repeats``), and the decoder's pixels against Pillow's."""
    data = [torchvision.io.read_file(p) for p in paths]
    decoded = decode_jpegs(data, device)  # also the warm-up (nvJPEG handles, kernels)
    diffs = []
    for path, image in zip(paths[:16], decoded):
        with Image.open(path) as reference:
            reference = F.pil_to_tensor(reference.convert("RGB"))
        diffs.append((image.cpu().float() - reference.float()).abs().mean().item())

    def timed(work) -> float:
        rates = []
        for _ in range(repeats):
            sync(device)
            start = time.perf_counter()
            work()
            sync(device)
            rates.append(len(paths) / (time.perf_counter() - start))
        return statistics.median(rates)

    batches = {b: device_batch(paths, final_size, min_scale, b) for b in sizes}
    report = {"device": device_name(device), "batch": len(paths),
              "decode_images_per_s": timed(lambda: decode_jpegs(data, device)),
              "decode_crop_images_per_s": {str(b): timed(lambda: batches[b].decode(device)) for b in sizes},
              "mean_abs_diff_to_pillow": statistics.mean(diffs), "max_mean_abs_diff_to_pillow": max(diffs)}
    exact = {b: batches[b].decode(device) for b in sizes}
    with matmul_precision("high"):
        report["decode_crop_tf32_images_per_s"] = {str(b): timed(lambda: batches[b].decode(device)) for b in sizes}
        changed = [(batches[b].decode(device).int() - exact[b].int()).abs() for b in sizes]
    report["tf32_crop_vs_float32"] = {"share_differing": sum(int((c > 0).sum()) for c in changed)
                                      / sum(c.numel() for c in changed),
                                      "max_abs_diff": max(int(c.max()) for c in changed)}
    return report


@contextlib.contextmanager
def matmul_precision(precision: str):
    """``torch.set_float32_matmul_precision(precision)`` inside the ``with``, the previous setting after it."""
    previous = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision(precision)
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(previous)


class _PerImagePad(EncodedBatch):
    """An ``EncodedBatch`` whose crop pads its images into the batch with a copy each (the first version)."""

    @staticmethod
    def pad(images: list[torch.Tensor]) -> torch.Tensor:
        window = images[0].new_zeros(len(images), 3, max(i.shape[1] for i in images), max(i.shape[2] for i in images))
        for k, image in enumerate(images):
            window[k, :, :image.shape[1], :image.shape[2]] = image
        return window


def crop_dispatch(paths: list[str], final_size: int, min_scale: float, size: int, device: torch.device,
                  steps: int, repeats: int) -> dict:
    """ms per batch of the crop's fixed cost: the ``data.decode=device`` batch of ``paths`` at stage size ``size``
    with every photo replaced by a blank image under 16 px a side (one shape per distinct photo size, so the batch
    keeps its runs of like sizes) cropped whole to 4 x 4. The arithmetic is then negligible, and what is timed is
    what the crop of a batch costs the host (Python, op dispatch, kernel launches) on ``device``: the thread that
    decodes ahead shares the GIL with the training step's launches. Both ways of padding the images into one batch:
    a stack per run of like sizes (``EncodedBatch.pad``) and a copy per image."""
    batch = device_batch(paths, final_size, min_scale, size)
    photo_sizes = []
    for path in paths:
        with Image.open(path) as image:  # the header only
            photo_sizes.append(image.size)
    shapes = {s: (8 + i % 8, 8 + i // 8) for i, s in enumerate(sorted(set(photo_sizes)))}
    samples = [replace(s, box=(0, 0, *shapes[p]), size=(4, 4)) for s, p in zip(batch.samples, photo_sizes)]
    images = [torch.zeros(3, *shapes[p], dtype=torch.uint8, device=device) for p in photo_sizes]
    report = {"device": device_name(device), "batch": len(paths), "distinct_sizes": len(shapes)}
    for name, kind in (("one_batch_ms", EncodedBatch), ("per_image_ms", _PerImagePad)):
        crop = kind(samples).crop
        crop(images)  # warm-up
        times = []
        for _ in range(repeats):
            sync(device)
            start = time.perf_counter()
            for _ in range(steps):
                crop(images)
            sync(device)
            times.append(1000 * (time.perf_counter() - start) / steps)
        report[name] = statistics.median(times)
    return report


class _PerSample(EncodedBatch):
    """An ``EncodedBatch`` pickled as torch pickles a list of tensors: one shared-memory block per sample."""

    def __reduce__(self):
        return EncodedBatch, (self.samples,)


class _SameBatch(torch.utils.data.Dataset):
    def __init__(self, batch: EncodedBatch, length: int):
        self.batch, self.length = batch, length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> EncodedBatch:
        return self.batch


def transport(paths: list[str], final_size: int, min_scale: float, workers: int, steps: int, warmup: int) -> dict:
    """ms per batch of ``paths`` through a ``workers``-process loader that only sends it, both ways of sending, and
    as ``data.decode=box`` sends it (the decoded boxes in one tensor)."""
    batch = device_batch(paths, final_size, min_scale, final_size)
    boxes = device_batch(paths, final_size, min_scale, final_size, "box")
    report = {"batch": len(paths), "workers": workers,
              "box_megabytes": sum(s.pixels.numel() for s in boxes.samples) / 2 ** 20}
    for name, sent in (("one_tensor_ms", batch), ("per_sample_ms", _PerSample(batch.samples)), ("box_ms", boxes)):
        batches = iter(DataLoader(_SameBatch(sent, warmup + steps), batch_size=None, num_workers=workers))
        for _ in range(warmup):
            next(batches)
        start = time.perf_counter()
        for _ in range(steps):
            next(batches)
        report[name] = 1000 * (time.perf_counter() - start) / steps
    return report


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="ImageNet-style folder of JPEGs (DIR/train/...)")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--sizes", type=int, nargs="+", default=[96, 160, 192, 224])
    parser.add_argument("--final-size", type=int, default=224)
    parser.add_argument("--images", type=int, default=200, help="images timed one by one for the worker stages")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="loader worker counts to compare")
    parser.add_argument("--steps", type=int, default=10, help="timed batches per loader measurement")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--device", default="auto", help="where the loader's batches are prepared (run.device)")
    parser.add_argument("--decode-device", default=None, help="also time batched decode_jpeg here (cpu, cuda)")
    parser.add_argument("--decode-batch", type=int, default=256, help="images in the batched decode")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    info = DistInfo(0, 0, 1, resolve_device(args.device))
    cfg = load_config(PretrainConfig, None, [
        "model.name=mae_vit_tiny", f"data.path={args.data}", f"optim.batch_size={args.batch}",
        f"schedule.final_size={args.final_size}", "schedule.low_frequency=fft", f"run.device={args.device}"])
    probe = Probe(cfg, info, args.final_size, None)
    report = {"device": device_name(info.device), "worker_device": device_name(torch.device("cpu")),
              "data": str(args.data), "final_size": args.final_size,
              "batch": args.batch, "commit": commit(), "command": command("loader_costs.py", argv),
              "worker_ms_per_image": worker_stages(probe, args.sizes, args.images),
              "loader_scaling": loader_scaling(probe, args.workers, args.steps, args.warmup)}
    paths = [p for p, _ in probe.dataset.samples][:args.decode_batch]
    report["transport"] = transport(paths, args.final_size, cfg.data.min_scale, max(1, *args.workers), args.steps,
                                    args.warmup)  # a worker process at least: what is timed is the crossing
    if args.decode_device:
        decode_device = resolve_device(args.decode_device)
        report["batched_decode"] = batched_decode(paths, args.sizes, args.final_size, cfg.data.min_scale,
                                                  decode_device, args.repeats)
        report["crop_dispatch"] = crop_dispatch(paths, args.final_size, cfg.data.min_scale, min(args.sizes),
                                                decode_device, args.steps, args.repeats)
    print_report(report)
    write_json(args.json, report)
    return report


def print_report(report: dict) -> None:
    ms = report["worker_ms_per_image"]
    print(f"\nworker, one process ({report['worker_device']}), ms per image: read {ms['read']:.2f}, decode {ms['decode']:.2f}, "
          f"whole fft sample {ms['whole_sample_fft']:.2f} (data.decode=device: {ms['whole_sample_device']:.2f}, "
          f"box: {ms['whole_sample_box']:.2f})")
    for b in sorted(int(k[5:]) for k in ms if k.startswith("crop_")):
        print(f"  B = {b:>3}: crop + resize {ms[f'crop_{b}']:.2f}, flip + tensor {ms[f'tensor_{b}']:.2f}")
    print("loader only at the final size (fft mode): " + ", ".join(
        f"{r['workers']} workers {r['images_per_s']:.0f} img/s ({r['images_per_s_per_worker']:.0f} each)"
        for r in report["loader_scaling"]))
    t = report["transport"]
    print(f"a data.decode=device batch of {t['batch']} from {t['workers']} workers: {t['one_tensor_ms']:.1f} ms "
          f"with the bytes in one tensor, {t['per_sample_ms']:.1f} ms with one tensor a sample; data.decode=box: "
          f"{t['box_ms']:.1f} ms for its {t['box_megabytes']:.0f} MB of boxes in one tensor")
    if "batched_decode" in report:
        d = report["batched_decode"]
        print(f"decode_jpeg on {d['device']}, batch {d['batch']}: {d['decode_images_per_s']:.0f} img/s; with the crop "
              + ", ".join(f"to {b}: {r:.0f}" for b, r in d["decode_crop_images_per_s"].items())
              + f"; |diff| to Pillow {d['mean_abs_diff_to_pillow']:.2f} (max {d['max_mean_abs_diff_to_pillow']:.2f})")
        t32 = d["tf32_crop_vs_float32"]
        print("with the crop's products in TF32: "
              + ", ".join(f"to {b}: {r:.0f}" for b, r in d["decode_crop_tf32_images_per_s"].items())
              + f" img/s; {t32['share_differing']:.2e} of its pixels differ from float32's, by at most "
                f"{t32['max_abs_diff']}")
        c = report["crop_dispatch"]
        print(f"the crop's fixed cost a batch of {c['batch']} ({c['distinct_sizes']} photo sizes) on {c['device']}: "
              f"{c['one_batch_ms']:.2f} ms padded a run of like sizes at a time, {c['per_image_ms']:.2f} ms a copy "
              f"per image")


if __name__ == "__main__":
    main()
