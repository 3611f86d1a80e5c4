"""The decoded cache (``engine.decoded_cache``): Pillow's own decode held in memory, crops with the full path's
pixels at scale 1 and the reduced path's where it decodes at the cache's scale, unreadable files still reported."""
import json

import numpy as np
import pytest
import torch
from PIL import Image
from timm.data.transforms import RandomResizedCropAndInterpolation
from torchvision import transforms
from torchvision.transforms import InterpolationMode

from curriculum import Schedule, Stage, StepPlan
from engine.config import load_config
from engine.data import CorruptImageError, CurriculumSamples, ImageFolderDataset
from engine.decode import RandomResizedCropDecode
from engine.decoded_cache import DecodedCache, attach_decoded_cache, check_cache_scale
from finetune.config import FinetuneConfig
from pretrain_mae.config import PretrainConfig
from tests.conftest import MICRO_MAE, generated_photos

SIZE = 96


def photo_folder(root, count=8):
    for i, path in enumerate(generated_photos()[:count]):
        (root / f"c{i % 2}").mkdir(parents=True, exist_ok=True)
        (root / f"c{i % 2}" / path.name).symlink_to(path)
    return root


def items(root, crop, cache=None, passes=3):
    """Every sample of ``passes`` passes through ``CurriculumSamples`` with ``crop`` then a tensor."""
    dataset = ImageFolderDataset(root)
    attach_decoded_cache(dataset, cache, "reduced", report=None)
    plan = StepPlan(Schedule("probe", 1, (Stage(0.0, 1.0, SIZE),)), len(dataset), len(dataset))
    samples = CurriculumSamples(dataset, 0, plan, lambda values: transforms.Compose([crop, transforms.PILToTensor()]))
    return [samples[(i, p, 0)][0] for p in range(passes) for i in range(len(dataset))]


def reduced():
    return RandomResizedCropDecode(SIZE, scale=(0.08, 1.0), interpolation=InterpolationMode.BICUBIC)


def full():
    """timm's RandomResizedCrop: the box from Python's ``random``, torchvision's crop of the full decode."""
    return RandomResizedCropAndInterpolation(SIZE, scale=(0.08, 1.0), interpolation="bicubic")


class RecordingScale(RandomResizedCropDecode):
    """The reduced crop, noting the scale it decodes each file at."""

    def __init__(self):
        super().__init__(SIZE, scale=(0.08, 1.0), interpolation=InterpolationMode.BICUBIC)
        self.scales = []

    def decode(self, image):
        decoded = super().decode(image)
        self.scales.append(decoded.scale)
        return decoded


def test_the_cache_holds_pillows_decode_at_the_scale(tmp_path):
    root = photo_folder(tmp_path / "train")
    dataset = ImageFolderDataset(root)
    cache = DecodedCache([p for p, _ in dataset.samples], 4, threads=2)
    assert cache.cached == len(cache) == 8 and cache.nbytes == sum(cache[i].pixels.size for i in range(8))
    for i, (path, _) in enumerate(dataset.samples):
        with Image.open(path) as image:
            width, height = image.size
            image.draft("RGB", (width // 4, height // 4))
            expected = np.asarray(image.convert("RGB"))
        entry = cache[i]
        assert entry.full_size == (width, height) and entry.scale == 4 and entry.jpeg
        np.testing.assert_array_equal(entry.pixels, expected)


def test_scale_one_gives_the_full_paths_pixels(tmp_path):
    root = photo_folder(tmp_path / "train")
    expected = items(root, full())
    assert all(torch.equal(a, b) for a, b in zip(items(root, reduced(), cache=1), expected))
    assert not all(torch.equal(a, b) for a, b in zip(items(root, reduced()), expected))  # reduced alone differs


def test_scale_two_gives_the_reduced_paths_pixels_where_it_decodes_at_half_or_finer(tmp_path):
    root = photo_folder(tmp_path / "train")
    recording = RecordingScale()
    plain, cached, reference = items(root, recording), items(root, reduced(), cache=2), items(root, full())
    scales = recording.scales  # the scale reduced decoded each sample at
    assert len(scales) == len(plain) and {1, 2} <= set(scales) and max(scales) > 2  # every branch is exercised
    for s, a, b, f in zip(scales, plain, cached, reference):
        if s <= 2:
            assert torch.equal(a, b)
        else:  # reduced went coarser than the cache: the cached crop is finer, nearer the full decode
            assert (b.double() - f.double()).abs().mean() <= (a.double() - f.double()).abs().mean() + 0.05


def test_png_grayscale_and_unreadable_files(tmp_path):
    root = photo_folder(tmp_path / "train", count=4)
    source = generated_photos()[0]
    Image.open(source).save(root / "c0" / "photo.png")
    Image.open(source).convert("L").save(root / "c1" / "gray.jpg", quality=90)
    (root / "c1" / "truncated.jpg").write_bytes(source.read_bytes()[:2000])
    dataset = ImageFolderDataset(root)
    attach_decoded_cache(dataset, 2, "reduced", report=None)
    names = [p.rsplit("/", 1)[1] for p, _ in dataset.samples]
    assert dataset.cache.cached == len(names) - 1 and dataset.cache[names.index("truncated.jpg")] is None
    png, gray = dataset.cache[names.index("photo.png")], dataset.cache[names.index("gray.jpg")]
    assert (png.scale, png.jpeg) == (1, False) and png.pixels.shape == (*Image.open(source).size[::-1], 3)
    assert gray.scale == 2 and gray.pixels.shape[2] == 3
    crop = reduced()
    bad = names.index("truncated.jpg")
    with pytest.raises(CorruptImageError, match="truncated.jpg"):
        dataset.read(bad, crop.decode, crop.decode_cached)
    skipping = ImageFolderDataset(root, on_corrupt="skip")
    attach_decoded_cache(skipping, 2, "reduced", report=None)
    image, _, _, skipped = skipping.read(bad, crop.decode, crop.decode_cached)
    assert skipped == 1 and np.asarray(crop(image)).shape == (SIZE, SIZE, 3)


def test_bad_settings_are_refused(tmp_path):
    check_cache_scale(None, "full")
    with pytest.raises(ValueError, match=r"data.cache_scale must be one of \(1, 2, 4, 8\)"):
        check_cache_scale(3, "reduced")
    with pytest.raises(ValueError, match="needs data.decode=reduced"):
        check_cache_scale(2, "full")
    for config in (FinetuneConfig, PretrainConfig):  # refused when the config is read, before a model is built
        with pytest.raises(ValueError, match="needs data.decode=reduced"):
            load_config(config, None, ["data.cache_scale=2"])
        assert load_config(config, None, ["data.cache_scale=2", "data.decode=reduced"]).data.cache_scale == 2
    root = photo_folder(tmp_path / "train", count=2)
    with pytest.raises(ValueError, match="more than half of this machine's"):
        DecodedCache([p for p, _ in ImageFolderDataset(root).samples], 1, memory_bytes=1000)


def test_mae_pre_training_reads_the_cache(image_folder, tmp_path):
    """The shared loop attaches the cache for MAE too; a wrong decode mode is one line and exit 2."""
    import subprocess
    import sys
    out = tmp_path / "mae"
    args = [f"--set={o}" for o in MICRO_MAE + [f"data.path={image_folder}", "data.decode=reduced", "data.cache_scale=1",
                                                "schedule.epochs=1", "schedule.final_size=64", "optim.batch_size=16",
                                                "data.num_workers=1", f"run.output_dir={out}"]]
    done = subprocess.run([sys.executable, "-m", "pretrain_mae", *args], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "decoded cache: 300 of 300 training images at 1/1 scale" in done.stdout
    record = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    built = float(done.stdout.split("built in ")[1].split(" s")[0])
    assert record["trained_images"] >= 300 and record["train_time_s"] >= built > 0  # the build counts as training
    bad = subprocess.run([sys.executable, "-m", "pretrain_mae", *args, "--set=data.decode=full"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "needs data.decode=reduced" in bad.stderr
    assert bad.stdout == ""  # refused as the config is read: no schedule, no model


def _rank(rank: int, root, work, fail: bool) -> None:
    """One rank of a two-process gloo group on one machine: attach the cache as the loop does, note what it got."""
    import torch.distributed as dist

    import engine.decoded_cache as decoded_cache
    dist.init_process_group("gloo", init_method=f"file://{work / 'store'}", rank=rank, world_size=2)
    try:
        if fail and rank == 0:
            def no_room(path, nbytes):
                raise ValueError("no room in /dev/shm")
            decoded_cache._shared_file = no_room
        dataset = ImageFolderDataset(root)
        try:
            attach_decoded_cache(dataset, 2, "reduced", report=None, local_rank=rank)
        except (ValueError, RuntimeError) as error:
            (work / f"rank{rank}.error").write_text(str(error))
            return
        cache = dataset.cache
        np.save(work / f"rank{rank}.npy", np.asarray(cache.buffer))
        (work / f"rank{rank}.json").write_text(json.dumps({
            "origin": cache.origin, "describe": cache.describe(), "cached": cache.cached,
            "views": [cache[i].pixels.shape for i in range(len(cache))]}))
    finally:
        dist.destroy_process_group()


def _leftovers() -> set:
    import glob
    return set(glob.glob("/dev/shm/efficienttrain-decoded-cache-*"))


def test_a_distributed_run_holds_one_copy_per_machine(tmp_path):
    """Local rank 0 decodes, the other rank maps its file: the same pixels as one process's cache, nothing left in
    /dev/shm afterwards."""
    root = photo_folder(tmp_path / "train")
    before = _leftovers()
    torch.multiprocessing.spawn(_rank, args=(root, tmp_path, False), nprocs=2)
    reference = DecodedCache([p for p, _ in ImageFolderDataset(root).samples], 2)
    for rank, origin in ((0, "decoded"), (1, "mapped")):
        seen = json.loads((tmp_path / f"rank{rank}.json").read_text())
        assert seen["origin"] == origin and "one copy per machine" in seen["describe"]
        assert seen["cached"] == reference.cached == 8
        assert seen["views"] == [list(reference[i].pixels.shape) for i in range(8)]
        np.testing.assert_array_equal(np.load(tmp_path / f"rank{rank}.npy"), reference.buffer)
    assert _leftovers() == before


def test_a_failed_build_fails_every_rank_instead_of_hanging(tmp_path):
    root = photo_folder(tmp_path / "train", count=2)
    torch.multiprocessing.spawn(_rank, args=(root, tmp_path, True), nprocs=2)
    assert (tmp_path / "rank0.error").read_text() == "no room in /dev/shm"
    assert "local rank 0 of this machine did not build the decoded cache" in (tmp_path / "rank1.error").read_text()


def test_a_shared_copy_too_large_for_its_file_system_is_refused(tmp_path):
    from engine.decoded_cache import _shared_file
    with pytest.raises(ValueError, match=r"needs 1000000000.00 GB in .* GB free \(a container needs a larger"):
        _shared_file(str(tmp_path / "pixels"), 10 ** 18)
    assert not (tmp_path / "pixels").exists()
