"""The curriculum training loop with a minimal task: accumulation, autocast, clipping, the non-finite check."""
import json
import math
import time
from dataclasses import dataclass, field

import pytest
import torch
from torchvision import transforms

from curriculum import Schedule, ScheduleConfig, Stage, make_preset
from engine.config import RunConfig
from engine.data import SyntheticImages
from engine.distributed import DistInfo
from engine.logger import RunLogger
from engine.checkpoint import CheckpointError
from engine.loop import Task, train


@dataclass
class Optim:
    batch_size: int = 16
    accum_iter: int = 1
    blr: float = 0.05
    warmup_epochs: float = 0.0
    min_lr: float = 0.0
    clip_grad: float | None = None


@dataclass
class Data:
    num_workers: int = 0
    decode: str = "full"
    cache_scale: int | None = None
    on_corrupt: str = "error"


@dataclass
class Config:
    run: RunConfig
    optim: Optim = field(default_factory=Optim)
    data: Data = field(default_factory=Data)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)


class LinearTask(Task):
    """A linear classifier on 16x16 images; no randomness anywhere, so runs can be compared exactly."""

    def __init__(self, sgd: bool = False, nan_at: int | None = None):
        torch.manual_seed(0)
        self.model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 16 * 16, 10))
        params = self.model.parameters()
        self.optimizer = torch.optim.SGD(params, lr=0.0) if sgd else torch.optim.AdamW(params, lr=0.0)
        self.nan_at, self.dtypes = nan_at, set()

    def transform(self, values):
        return transforms.Compose([transforms.Resize((16, 16)), transforms.ToTensor()])

    def loss(self, model, images, targets, keys, step):
        logits = model(images)
        self.dtypes.add(logits.dtype)
        loss = torch.nn.functional.cross_entropy(logits.float(), targets)
        return loss * float("nan") if step == self.nan_at else loss


CPU = DistInfo(0, 0, 1, torch.device("cpu"))


def run(tmp_path, task, epochs=2, images=64, **optim):
    cfg = Config(RunConfig(output_dir=str(tmp_path), resume=None, progress=False, save_every=0,
                           log_images_every=0), Optim(**optim))
    schedule = make_preset("baseline", epochs, 16)
    logger = RunLogger(tmp_path, True, progress=False)
    try:
        return train(task, cfg, CPU, schedule, SyntheticImages(images, 16), logger)
    finally:
        logger.close()


def test_accumulation_equals_the_large_batch(tmp_path):
    """Batch 8 x accum 2 reads the same 16 samples per update, at the same lr, as batch 16."""
    large, accumulated = LinearTask(), LinearTask()
    run(tmp_path / "a", large, batch_size=16)
    record = run(tmp_path / "b", accumulated, batch_size=8, accum_iter=2)
    assert record["global_batch"] == 16 and record["step"] == 16
    for a, b in zip(large.model.parameters(), accumulated.model.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    plain = LinearTask()
    run(tmp_path / "c", plain, batch_size=8)  # without accumulation the run differs: the test can fail
    assert not torch.allclose(plain.model[1].weight, large.model[1].weight, atol=1e-4)


def test_a_folded_stage_trains_as_its_accumulation_does(tmp_path):
    """Stage.fold=2 with accum 2: one step of 16 per update where the plain stage takes two of 8, same samples."""
    def fit(out, fold, accum_iter=2):
        task = LinearTask()
        cfg = Config(RunConfig(output_dir=str(out), resume=None, progress=False, save_every=0, log_images_every=0),
                     Optim(batch_size=8, accum_iter=accum_iter))
        schedule = Schedule("f", 2, (Stage(0.0, 0.5, 16, fold=fold), Stage(0.5, 1.0, 16)))
        logger = RunLogger(out, True, progress=False)
        try:
            return task, train(task, cfg, CPU, schedule, SyntheticImages(64, 16), logger)
        finally:
            logger.close()

    (plain, plain_record), (folded, folded_record) = fit(tmp_path / "a", 1), fit(tmp_path / "b", 2)
    assert plain_record["step"] == 16 and folded_record["step"] == 12  # 8 steps of 8 became 4 of 16
    assert plain_record["global_batch"] == folded_record["global_batch"] == 16
    for a, b in zip(plain.model.parameters(), folded.model.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match=r"schedule.fold=2 .* optim.accum_iter \(1\) must be a multiple of it"):
        fit(tmp_path / "c", 2, accum_iter=1)


def test_bf16_autocast_on_the_cpu_is_honoured_with_a_notice(tmp_path, capsys):
    task = LinearTask()
    cfg = Config(RunConfig(output_dir=str(tmp_path), resume=None, progress=False, amp="bf16"))
    logger = RunLogger(tmp_path, True, progress=False)
    record = train(task, cfg, CPU, make_preset("baseline", 1, 16), SyntheticImages(32, 16), logger)
    logger.close()
    assert task.dtypes == {torch.bfloat16} and math.isfinite(record["loss"])
    assert "run.amp=bf16 on the CPU is usually much slower than float32" in capsys.readouterr().out
    auto = LinearTask()
    run(tmp_path / "auto", auto, epochs=1, images=32)
    assert auto.dtypes == {torch.float32}  # auto keeps float32 on the CPU


def test_gradient_clipping_bounds_the_update(tmp_path):
    """SGD, one step: the parameters move by exactly lr x clip when the gradient norm exceeds clip."""
    task = LinearTask(sgd=True)
    before = torch.cat([p.detach().clone().flatten() for p in task.model.parameters()])
    record = run(tmp_path, task, epochs=1, images=16, clip_grad=1e-3)
    after = torch.cat([p.detach().flatten() for p in task.model.parameters()])
    lr = 0.05 * 16 / 256
    assert record["step"] == 1 and record["grad_norm"] > 1e-3  # the logged norm is the one before clipping
    assert float((after - before).norm()) == pytest.approx(lr * 1e-3, rel=1e-3)


def test_a_non_finite_loss_stops_the_run(tmp_path):
    with pytest.raises(FloatingPointError, match="non-finite by step"):
        run(tmp_path, LinearTask(nan_at=2), epochs=2)


class SlowEvaluationTask(LinearTask):
    """Evaluation that takes 0.3 s: training wall time must not count it."""

    def end_of_record(self, record, logger, log_images):
        time.sleep(0.3)
        return {}


def test_records_carry_training_time_without_evaluation_and_the_computation(tmp_path):
    started = time.perf_counter()
    run(tmp_path, SlowEvaluationTask(), epochs=3, images=64)
    elapsed = time.perf_counter() - started
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    times = [r["train_time_s"] for r in records]
    assert times == sorted(times) and elapsed > 0.9  # three evaluations of 0.3 s ran
    assert times[-1] < elapsed - 0.85  # ... and none of them is training time
    assert times[-1] == pytest.approx(sum(r["epoch_time_s"] for r in records), abs=1e-2)
    assert [r["computation"] for r in records] == [1.0, 2.0, 3.0]  # the baseline: one final-size epoch per epoch


class SlowLoaderTask(LinearTask):
    """Every image takes 5 ms to load (num_workers=0: the loop waits for it)."""

    def transform(self, values):
        def slow(image):
            time.sleep(0.005)
            return base(image)
        base = super().transform(values)
        return slow


class SlowStepTask(LinearTask):
    """Every step (16 images) takes 0.5 s of computation, several times what its images take to load."""

    def loss(self, model, images, targets, keys, step):
        time.sleep(0.5)
        return super().loss(model, images, targets, keys, step)


class SlowPreparationTask(SlowStepTask):
    """Preparing a batch on the device takes 0.5 s, as long as its step."""

    def on_device(self, images, keys, values):
        time.sleep(0.5)
        return super().on_device(images, keys, values)


def test_records_give_the_share_of_a_step_spent_waiting_for_data_and_preparing_it(tmp_path):
    loader_bound = run(tmp_path / "loader", SlowLoaderTask(), epochs=1, images=64)
    compute_bound = run(tmp_path / "compute", SlowStepTask(), epochs=1, images=64)
    preparing = run(tmp_path / "prepare", SlowPreparationTask(), epochs=1, images=64)
    assert loader_bound["data_wait_share"] > 0.7 and loader_bound["prepare_share"] < 0.1, loader_bound
    assert compute_bound["data_wait_share"] < 0.3 and compute_bound["prepare_share"] < 0.1, compute_bound
    assert 0.4 < preparing["prepare_share"] < 0.6, preparing


def test_the_low_frequency_crop_counts_as_preparing_the_batch(tmp_path, monkeypatch):
    """A stage below the images' 16 px: the loop's low-frequency crop of each batch is part of its preparation."""
    def slow_crop(images, size):
        time.sleep(0.5)
        return images  # the linear task keeps its 16 px input

    monkeypatch.setattr("engine.loop.low_frequency_crop", slow_crop)
    cfg = Config(RunConfig(output_dir=str(tmp_path), resume=None, progress=False, save_every=0, log_images_every=0))
    logger = RunLogger(tmp_path, True, progress=False)
    try:
        record = train(SlowStepTask(), cfg, CPU, Schedule("small", 1, (Stage(0.0, 1.0, 8),)), SyntheticImages(64, 16),
                       logger)
    finally:
        logger.close()
    assert record["size"] == 8 and 0.4 < record["prepare_share"] < 0.6, record


def test_training_time_continues_over_a_resume(tmp_path):
    cfg = Config(RunConfig(output_dir=str(tmp_path), resume=None, progress=False, save_every=0,
                           log_images_every=0), Optim())
    logger = RunLogger(tmp_path, True, progress=False)
    train(LinearTask(), cfg, CPU, make_preset("baseline", 2, 16), SyntheticImages(64, 16), logger)
    first = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    state = torch.load(tmp_path / "checkpoint-last.pth", weights_only=False)
    state.update(step=4, epoch=0, train_time_s=first[0]["train_time_s"] + 100.0)  # stopped after epoch 0
    torch.save(state, tmp_path / "checkpoint-last.pth")
    cfg.run.resume = "auto"
    train(LinearTask(), cfg, CPU, make_preset("baseline", 2, 16), SyntheticImages(64, 16), logger)
    logger.close()
    resumed = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()][-1]
    assert resumed["epoch"] == 1 and resumed["train_time_s"] > first[0]["train_time_s"] + 100.0


def test_resume_with_another_batch_size_is_refused(tmp_path):
    """The checkpoint's layout is written and checked: with half the batch, its step 8 would be the middle of the
    run, not its end."""
    cfg = Config(RunConfig(output_dir=str(tmp_path), resume=None, progress=False, save_every=0,
                           log_images_every=0), Optim())
    logger = RunLogger(tmp_path, True, progress=False)
    train(LinearTask(), cfg, CPU, make_preset("baseline", 2, 16), SyntheticImages(64, 16), logger)
    cfg.run.resume, cfg.optim.batch_size = "auto", 8
    with pytest.raises(CheckpointError, match=r"a step takes 8 x 1 device = 8 samples, the run took 16 x 1 = 16; "
                                              r"on 1 device set optim.batch_size=16"):
        train(LinearTask(), cfg, CPU, make_preset("baseline", 2, 16), SyntheticImages(64, 16), logger)
    logger.close()


class ConvTask(LinearTask):
    """A conv net with global pooling: any input size."""

    def __init__(self):
        super().__init__()
        self.model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.AdaptiveAvgPool2d(1),
                                         torch.nn.Flatten(), torch.nn.Linear(8, 10))
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=0.0)


def test_compile_makes_one_graph_per_stage_size(tmp_path, monkeypatch):
    """``run.compile``: one graph per input size of the schedule, none recompiled inside a stage (dynamo's own
    counters; the eager backend keeps the test fast, the graph capture is the same)."""
    from torch._dynamo.utils import counters
    compile_ = torch.compile
    monkeypatch.setattr(torch, "compile", lambda model, **kw: compile_(model, backend="eager", **kw))
    torch._dynamo.reset()
    counters.clear()
    schedule = make_preset("efficienttrain", 3, 16)
    cfg = Config(RunConfig(output_dir=str(tmp_path), resume=None, progress=False, save_every=0, log_images_every=0,
                           compile=True), Optim(batch_size=8))
    logger = RunLogger(tmp_path, True, progress=False)
    record = train(ConvTask(), cfg, CPU, schedule, SyntheticImages(64, 16), logger)
    logger.close()
    sizes = {s.size for s in schedule.stages}
    assert record["step"] == 24 and len(sizes) == 3
    assert counters["stats"]["unique_graphs"] == len(sizes)


class BlocksTask(LinearTask):
    """A conv net with a list of three residual blocks of one class (a ViT's shape, at toy size)."""

    class Block(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(8, 8, 3, padding=1)

        def forward(self, x):
            return x + torch.nn.functional.gelu(self.conv(x))

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.Conv2d(8, 8, 1))
            self.blocks = torch.nn.ModuleList(BlocksTask.Block() for _ in range(3))
            self.head = torch.nn.Linear(8, 10)

        def forward(self, x):
            x = self.stem(x)
            for block in self.blocks:
                x = block(x)
            return self.head(x.mean((2, 3)))

    def __init__(self):
        super().__init__()
        self.model = self.Net()
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=0.0)


def test_compiling_blocks_traces_one_block_per_stage_size(tmp_path, monkeypatch):
    """``run.compile=blocks``: the three blocks share one graph per stage size (not three), and the run is the
    eager run's. The backend is ``aot_eager``: dynamo's graph goes through AOTAutograd (functionalised forward and
    backward graphs, decompositions), so the compiled training is a traced program, not the eager modules again,
    while the CPU needs no C++ compiler run."""
    from torch._dynamo.utils import counters
    compile_ = torch.compile
    monkeypatch.setattr(torch, "compile", lambda model, **kw: compile_(model, backend="aot_eager", **kw))
    schedule = make_preset("efficienttrain", 3, 16)
    records = {}
    for mode in (False, "blocks"):
        torch._dynamo.reset()
        counters.clear()
        cfg = Config(RunConfig(output_dir=str(tmp_path / str(mode)), resume=None, progress=False, save_every=0,
                               log_images_every=0, compile=mode), Optim(batch_size=8))
        logger = RunLogger(tmp_path / str(mode), True, progress=False)
        records[mode] = train(BlocksTask(), cfg, CPU, schedule, SyntheticImages(64, 16), logger)
        logger.close()
    assert counters["stats"]["unique_graphs"] == len({s.size for s in schedule.stages}) == 3
    assert counters["aot_autograd"]["total"] >= 3  # every graph went through AOTAutograd
    assert records["blocks"]["loss"] == pytest.approx(records[False]["loss"], rel=1e-5)


def test_compiling_blocks_needs_a_list_of_blocks():
    from engine.runtime import compile_model
    model = ConvTask().model
    with pytest.raises(ValueError, match="run.compile=blocks: Sequential holds no list of repeated blocks"):
        compile_model(model, model, "blocks")


def test_repeated_blocks_are_the_innermost_lists_of_one_class():
    import timm

    from engine.runtime import repeated_blocks
    from pretrain_mae.model import build_mae
    net = BlocksTask().model
    assert repeated_blocks(net) == [net.blocks]  # the stem's two convs are torch.nn's own
    mae = build_mae("mae_vit_tiny")
    assert repeated_blocks(mae) == [mae.blocks, mae.decoder_blocks]
    swin = timm.create_model("swin_tiny_patch4_window7_224", pretrained=False, num_classes=10)
    found = repeated_blocks(swin)
    assert len(found) == 4 and all(m is stage.blocks for m, stage in zip(found, swin.layers))
