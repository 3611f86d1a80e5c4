"""Decoding and cropping on the training device (``engine.device_decode``), run here on the CPU (torchvision's
libjpeg-turbo decode instead of nvJPEG): the same crop boxes and flips as ``data.decode=full``, Pillow's pixels
within rounding, every file kind handled, corrupt files named, and the loader's batches the same samples."""
import io
import pickle
import random

import pytest
import torch
import torchvision
from PIL import Image
from timm.data.transforms import RandomResizedCropAndInterpolation

from curriculum import Schedule, Stage, StepPlan
from engine.data import CorruptImageError, CurriculumSamples, ImageFolderDataset, collate_samples, load_rgb, \
    make_train_loader
from engine.device_decode import Encoded, EncodedBatch, EncodedCrop, decode_jpegs, resample_weights
from engine.distributed import DistInfo
from pretrain_mae.data import train_transform
from tests.conftest import generated_photos, reference_crop_and_flip

CPU = torch.device("cpu")


def photos(count=8):
    return generated_photos()[:count]


def both(paths, size, mode, decode="device"):
    """The full path's samples and the ``decode`` path's batch, decoded here, under the same random numbers."""
    full, device = train_transform(224, 0.2, size, mode, "full"), train_transform(224, 0.2, size, mode, decode)
    plain, items = [], []
    for seed, path in enumerate(paths):
        random.seed(seed)
        plain.append(full(load_rgb(path)))
        random.seed(seed)
        items.append((device(load_rgb(path, device.transforms[0].decode)), 0, seed, 0))
    batch = collate_samples(items)[0]
    return torch.stack(plain), batch, batch.decode(CPU)


def assert_within_rounding(expected, got):
    """Pillow resamples in fixed point, this in float: the same pixels but for rounding (measured on these photos:
    mean 0.0001-0.013 grey levels, 1e-5 of the values off by more than 1, at most 8 at a few sharp edges)."""
    diff = (expected.float() - got.float()).abs()
    assert diff.mean() < 0.05 and (diff > 1).float().mean() < 1e-3 and diff.max() <= 16


@pytest.mark.parametrize("mode,size", [("fft", 160), ("resize", 96), ("resize", 160), ("resize", 224)])
def test_pixels_are_the_full_paths_within_rounding(mode, size):
    expected, batch, got = both(photos(), size, mode)
    assert all(s.data is not None for s in batch.samples)  # every photo went through decode_jpeg
    out = size if mode == "resize" else 224
    assert got.shape == expected.shape == (8, 3, out, out) and got.dtype == torch.uint8
    assert_within_rounding(expected, got)
    assert any(s.flip for s in batch.samples) and not all(s.flip for s in batch.samples)


def test_the_boxes_and_flips_are_timms():
    path, flips = photos(1)[0], set()
    for seed in range(8):
        random.seed(seed)
        with Image.open(path) as image:
            encoded = EncodedCrop(96, scale=(0.2, 1.0)).decode(image)
        random.seed(seed)
        with Image.open(path) as image:
            box = RandomResizedCropAndInterpolation.get_params(image, (0.2, 1.0), (3 / 4, 4 / 3))
        assert encoded.box == box and encoded.flip == (random.random() < 0.5)
        flips.add(encoded.flip)
    assert flips == {False, True}


def test_files_nvjpeg_is_not_given_travel_as_pixels(tmp_path):
    source = Image.open(photos(1)[0]).convert("RGB")
    files = {"png": ("PNG", source, {}), "gray": ("JPEG", source.convert("L"), {}),
             "cmyk": ("JPEG", source.convert("CMYK"), {}), "progressive": ("JPEG", source, {"progressive": True})}
    paths = []
    for name, (fmt, image, options) in files.items():
        paths.append(tmp_path / f"{name}.{fmt.lower()}")
        image.save(paths[-1], fmt, quality=90, **options)
    expected, batch, got = both(paths, 96, "resize")
    assert all(s.data is None and s.pixels is not None for s in batch.samples)
    assert_within_rounding(expected, got)


def test_a_batch_crosses_processes_as_one_tensor(tmp_path):
    first, second = photos(2)
    Image.open(second).save(tmp_path / "pixels.png")
    crop = EncodedCrop(64, scale=(0.2, 1.0))
    paths = [first, tmp_path / "pixels.png", second]
    batch = collate_samples([(load_rgb(path, crop.decode), 0, i, 0) for i, path in enumerate(paths)])[0]
    _, (data, *_) = batch.__reduce__()
    box = batch.samples[1].pixels
    assert box.shape[0] == 3 and box.shape[1:] == batch.samples[1].box[2:]  # the box alone travels decoded
    assert isinstance(data, torch.Tensor) and len(data) == len(first.read_bytes()) + box.numel() + len(
        second.read_bytes())
    copy = pickle.loads(pickle.dumps(batch))
    assert [s.data is None for s in copy.samples] == [False, True, False]
    assert torch.equal(copy.samples[0].data, batch.samples[0].data)
    assert torch.equal(copy.samples[2].data, batch.samples[2].data)
    assert torch.equal(copy.samples[1].pixels, box)
    assert copy.samples[0].data.untyped_storage().data_ptr() == copy.samples[1].pixels.untyped_storage().data_ptr() \
        == copy.samples[2].data.untyped_storage().data_ptr() == copy.packed.untyped_storage().data_ptr()
    assert [(s.box, s.flip, s.size, s.path) for s in copy.samples] == [(s.box, s.flip, s.size, s.path)
                                                                       for s in batch.samples]
    assert torch.equal(copy.decode(CPU), batch.decode(CPU))


@pytest.mark.parametrize("mode,size", [("fft", 160), ("resize", 96), ("resize", 224)])
def test_boxes_decoded_in_the_worker_give_the_full_paths_pixels_within_rounding(mode, size):
    expected, batch, got = both(photos(), size, mode, decode="box")
    assert all(s.data is None and s.box[:2] == (0, 0) and s.pixels.shape[1:] == s.box[2:] for s in batch.samples)
    assert_within_rounding(expected, got)
    _, device_batch, _ = both(photos(), size, mode)  # the same random numbers: the same boxes and flips
    assert [s.flip for s in batch.samples] == [s.flip for s in device_batch.samples]
    assert [s.box[2:] for s in batch.samples] == [s.box[2:] for s in device_batch.samples]


def test_a_batch_of_boxes_is_pinned_and_sent_as_one_tensor(monkeypatch):
    _, batch, got = both(photos(4), 96, "resize", decode="box")
    copy = pickle.loads(pickle.dumps(batch))
    monkeypatch.setattr(torch.Tensor, "pin_memory", torch.Tensor.clone)  # page-locked memory needs a CUDA build
    pinned = copy.pin_memory()
    assert pinned.packed is not copy.packed and torch.equal(pinned.packed, copy.packed)
    assert all(s.pixels.untyped_storage().data_ptr() == pinned.packed.untyped_storage().data_ptr()
               for s in pinned.samples)
    sent = []
    monkeypatch.setattr(torch.Tensor, "to", lambda self, *a, to=torch.Tensor.to, **k: sent.append(self) or
                        to(self, *a, **k))
    assert torch.equal(pinned.decode(CPU), got)
    pixels = [t for t in sent if t.dtype == torch.uint8]  # (the crop's parameters travel as int64)
    assert len(pixels) == 1 and pixels[0].data_ptr() == pinned.packed.data_ptr()
    assert batch.pin_memory() is batch  # nothing packed yet (in the worker): nothing to pin


def test_a_corrupt_file_is_reported_by_the_worker_when_it_decodes_the_box(tmp_path):
    data = photos(1)[0].read_bytes()
    broken = tmp_path / "truncated.jpg"
    broken.write_bytes(data[:len(data) // 3])
    with pytest.raises(CorruptImageError, match="truncated.jpg"):
        load_rgb(broken, EncodedCrop(64, scale=(0.2, 1.0), decode="box").decode)


def test_an_unknown_decode_place_is_refused():
    with pytest.raises(ValueError, match="EncodedCrop decodes on the 'device' or cuts the 'box'.*'gpu'"):
        EncodedCrop(64, decode="gpu")


def test_images_already_decoded_are_cropped_too():
    image = Image.open(photos(1)[0]).convert("RGB")
    transform = train_transform(224, 0.2, 160, "resize", "device")
    random.seed(0)
    encoded = transform(image)
    random.seed(0)
    expected = train_transform(224, 0.2, 160, "resize", "full")(image)
    assert encoded.data is None and encoded.path == "<in memory>"
    assert_within_rounding(expected[None], Encoded.collate([(encoded, 0, 0, 0)])[0].decode(CPU))


def test_a_corrupt_jpeg_is_named_when_its_batch_is_decoded(tmp_path):
    data = photos(1)[0].read_bytes()
    broken = tmp_path / "truncated.jpg"
    broken.write_bytes(data[:len(data) // 3])  # the header parses; the scan does not
    crop = EncodedCrop(64, scale=(0.2, 1.0))
    items = [(load_rgb(path, crop.decode), 0, i, 0) for i, path in enumerate([photos(1)[0], broken])]
    with pytest.raises(CorruptImageError, match="unreadable image .*truncated.jpg"):
        collate_samples(items)[0].decode(CPU)


def test_with_skip_a_corrupt_jpeg_takes_the_next_readable_sample(tmp_path, caplog):
    good = photos(2)
    data = good[0].read_bytes()
    broken = tmp_path / "truncated.jpg"
    broken.write_bytes(data[:len(data) // 3])
    crop = EncodedCrop(64, scale=(0.2, 1.0))
    random.seed(0)
    items = [(load_rgb(path, crop.decode), 0, i, 0) for i, path in enumerate([good[0], broken, good[1], broken])]
    batch = collate_samples(items)[0]
    with caplog.at_level("WARNING"):
        got = batch.decode(CPU, on_corrupt="skip")
    assert batch.replaced == [(1, 2), (3, 0)]  # the next readable one, wrapping round
    readable = collate_samples([items[0], items[2]])[0].decode(CPU)
    assert torch.equal(got, readable[[0, 1, 1, 0]])
    skips = [r.getMessage() for r in caplog.records if "skipping" in r.getMessage()]
    assert len(skips) == 2 and all("truncated.jpg" in m for m in skips)
    with pytest.raises(CorruptImageError, match="no file of this batch could be decoded"):
        collate_samples([items[1], items[3]])[0].decode(CPU, on_corrupt="skip")
    with pytest.raises(ValueError, match="on_corrupt must be 'error' or 'skip', got 'ignore'"):
        batch.decode(CPU, on_corrupt="ignore")


def test_a_batch_shares_one_output_size():
    path = photos(1)[0]
    items = [(load_rgb(path, EncodedCrop(size).decode), 0, 0, 0) for size in (64, 96)]
    with pytest.raises(ValueError, match="one batch must share its output size"):
        Encoded.collate(items)


def test_weights_are_pillows_filters_normalised():
    weights = resample_weights(torch.tensor([10.0, 4.0]), 4, 12, EncodedCrop(4).interpolation)
    assert weights.shape == (2, 4, 12)
    assert torch.allclose(weights.sum(2), torch.ones(2, 4))
    assert (weights[1, :, 4:] == 0).all()  # nothing from past the box
    assert torch.equal(resample_weights(torch.tensor([6.0]), 6, 6, EncodedCrop(4).interpolation)[0], torch.eye(6))


def test_weights_from_an_offset_are_the_boxs_shifted():
    lengths, starts = torch.tensor([10.0, 4.0]), torch.tensor([3.0, 8.0])
    shifted = resample_weights(lengths, 4, 20, EncodedCrop(4).interpolation, start=starts)
    at_zero = resample_weights(lengths, 4, 20, EncodedCrop(4).interpolation)
    for k, start in enumerate((3, 8)):
        assert torch.allclose(shifted[k, :, start:], at_zero[k, :, :20 - start], atol=1e-7)
        assert not shifted[k, :, :start].any()


@pytest.mark.parametrize("decode", ["device", "box"])
def test_fft_loader_mode_is_refused(decode):
    with pytest.raises(ValueError, match=f"data.decode={decode} needs schedule.low_frequency fft or resize"):
        train_transform(224, 0.2, 160, "fft-loader", decode)


def test_the_loader_yields_the_same_samples_decoded_on_the_device(tmp_path):
    root = tmp_path / "train" / "c0"
    root.mkdir(parents=True)
    for path in photos(6):
        (root / path.name).symlink_to(path)
    dataset = ImageFolderDataset(tmp_path / "train")
    plan = StepPlan(Schedule("one", 1, (Stage(0.0, 1.0, 96),)), len(dataset), 3)
    batches = {}
    for decode in ("full", "device"):
        samples = CurriculumSamples(dataset, 0, plan, lambda v, d=decode: train_transform(224, 0.2, v.size, "resize",
                                                                                          d))
        batches[decode] = next(iter(make_train_loader(samples, DistInfo(0, 0, 1, CPU), 0, num_workers=1)))
    full, device = batches["full"], batches["device"]
    assert isinstance(device[0], EncodedBatch) and len(device[0]) == 3
    assert torch.equal(full[1], device[1]) and torch.equal(full[2], device[2])  # targets and keys
    assert_within_rounding(full[0], device[0].decode(CPU))


def test_large_batches_are_cropped_in_chunks_with_the_same_pixels(monkeypatch):
    _, batch, whole = both(photos(), 96, "resize")
    largest = max(image.numel() for image in batch._pixels(CPU))
    monkeypatch.setattr("engine.device_decode._MAX_PADDED", largest)  # about one image a chunk
    chunked = []
    monkeypatch.setattr(EncodedBatch, "_crop", lambda self, images, params, crop=EncodedBatch._crop: (
        chunked.append(len(images)) or crop(self, images, params)))
    assert_within_rounding(whole, batch.decode(CPU))
    assert len(chunked) > 2 and sum(chunked) == len(batch)


def test_images_of_several_sizes_are_padded_as_one_batch():
    generator = torch.Generator().manual_seed(0)
    shapes = [(3, 5, 7), (3, 5, 7), (3, 6, 4), (3, 2, 9), (3, 2, 9)]
    images = [torch.randint(1, 256, shape, dtype=torch.uint8, generator=generator) for shape in shapes]
    padded = EncodedBatch.pad(images)
    assert padded.shape == (5, 3, 6, 9)
    for image, got in zip(images, padded):
        _, h, w = image.shape
        assert torch.equal(got[:, :h, :w], image) and not got[:, h:].any() and not got[:, :, w:].any()


def test_a_batch_of_mixed_sizes_keeps_its_order():
    """``decode`` crops like-sized photos together; every output is still its own sample's (each alone as the
    reference)."""
    paths = photos(12)
    assert len({Image.open(p).size for p in paths}) > 3
    _, batch, got = both(paths, 96, "resize")
    for k, sample in enumerate(batch.samples):  # alone, padded otherwise: equal but for float rounding at .5
        assert (got[k].int() - EncodedBatch([sample]).decode(CPU)[0].int()).abs().max() <= 1


def overwritten_by_decode(decode, device: torch.device, rounds: int = 20) -> int:
    """How many reads still queued on the training stream see memory that ``decode(data, device)`` wrote over
    (pytorch/vision PR #9606's harness): tensors the size of the decoded images are filled, a long kernel and one
    sum per tensor are queued, the tensors are freed while the sums wait, and a batch is decoded."""
    generator = torch.Generator().manual_seed(0)
    data = []
    for k in range(8):
        pixels = torch.randint(0, 256, (375, 500 - 8 * k, 3), dtype=torch.uint8, generator=generator)
        buffer = io.BytesIO()
        Image.fromarray(pixels.numpy()).save(buffer, "JPEG", quality=90)
        data.append(torch.frombuffer(bytearray(buffer.getvalue()), dtype=torch.uint8))
    shapes = [image.shape for image in decode(data, device)]  # also the warm-up
    torch.cuda.synchronize(device)
    wrong = 0
    for _ in range(rounds):
        victims = [torch.full(shape, k + 1, dtype=torch.uint8, device=device) for k, shape in enumerate(shapes)]
        expected = [(k + 1) * v.numel() for k, v in enumerate(victims)]
        torch.cuda.synchronize(device)
        torch.cuda._sleep(100_000_000)  # keeps the sums below queued while the decoder runs
        sums = [v.sum(dtype=torch.int64) for v in victims]
        del victims
        decode(data, device)
        torch.cuda.synchronize(device)
        wrong += sum(int(s) != e for s, e in zip(sums, expected))
    return wrong


def racing_decode(data: list[torch.Tensor], device: torch.device) -> list[torch.Tensor]:
    """The race on purpose (the harness's positive control): outputs allocated while the training stream is
    current, then written from a side stream that does not wait for it, as torchvision's nvJPEG decode does."""
    shapes = [torchvision.io.decode_jpeg(d).shape for d in data]
    images = [torch.empty(shape, dtype=torch.uint8, device=device) for shape in shapes]
    side = torch.cuda.Stream(device)
    with torch.cuda.stream(side):
        for image in images:
            image.fill_(0)
    torch.cuda.current_stream(device).wait_stream(side)
    return images


@pytest.mark.skipif(not torch.cuda.is_available(), reason="nvJPEG needs a CUDA device")
def test_cuda_decoding_leaves_memory_the_training_stream_still_reads_alone():
    device = torch.device("cuda")
    assert overwritten_by_decode(racing_decode, device) > 0  # the harness sees the race where there is one
    assert overwritten_by_decode(decode_jpegs, device) == 0


def test_decode_jpegs_on_the_cpu_is_torchvisions():
    data = [torchvision.io.read_file(str(p)) for p in photos(3)]
    for got, path in zip(decode_jpegs(data, CPU), photos(3)):
        assert torch.equal(got, torchvision.io.decode_jpeg(torchvision.io.read_file(str(path))))
