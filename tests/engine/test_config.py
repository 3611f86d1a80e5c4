"""The shared config system: YAML, inheritance, overrides and errors that name the key."""
import pytest

from engine.config import load_config
from pretrain_mae.config import PretrainConfig


def test_defaults_file_and_overrides(tmp_path):
    base = tmp_path / "base.yaml"
    base.write_text("model: {name: mae_vit_large}\noptim: {blr: 1.0e-4, betas: [0.9, 0.95]}\n")
    child = tmp_path / "child.yaml"
    child.write_text("_base_: base.yaml\noptim: {batch_size: 16}\nschedule: {epochs: 1600}\n")
    cfg = load_config(PretrainConfig, child, ["schedule.preset=baseline", "optim.warmup_epochs=5", "data.path=/x"])
    assert cfg.model.name == "mae_vit_large" and cfg.optim.blr == 1e-4 and cfg.optim.batch_size == 16
    assert cfg.schedule.epochs == 1600 and cfg.schedule.preset == "baseline"
    assert cfg.optim.warmup_epochs == 5.0 and isinstance(cfg.optim.warmup_epochs, float)
    assert cfg.data.path == "/x" and cfg.optim.betas == (0.9, 0.95)
    assert load_config(PretrainConfig).model.name == "mae_vit_base"
    assert [load_config(PretrainConfig, None, [f"run.compile={v}"]).run.compile for v in ("true", "blocks")] == [
        True, "blocks"]


@pytest.mark.parametrize("override,match", [
    ("optim.bogus=1", r"optim\.bogus"),
    ("optim.batch_size=ten", "optim.batch_size expects int"),
    ("schedule.preset=efficienttrain+", r"schedule\.preset must be one of \['baseline', 'efficienttrain', "),
    ("schedule.low_frequency=bilinear", r"schedule\.low_frequency must be one of \['fft', 'fft-loader', 'resize'\]"),
    ("data.on_corrupt=ignore", r"data\.on_corrupt must be one of"),
    ("schedule.family=vgg", r"schedule\.family must be one of \['resnet', 'swin', "),
    ("run.amp=fp8", r"run\.amp must be one of"),
    ("run.device=tpu", r"run\.device must be one of"),
    ("run.compile=layers", r"run\.compile must be one of \[False, True, 'blocks'\]"),
    ("nosuchsection.x=1", "nosuchsection"),
    ("justakey", "key.sub=value"),
])
def test_bad_overrides(override, match):
    with pytest.raises(ValueError, match=match):
        load_config(PretrainConfig, None, [override])


def test_missing_and_looping_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="config file not found"):
        load_config(PretrainConfig, tmp_path / "nope.yaml")
    loop = tmp_path / "a.yaml"
    loop.write_text("_base_: a.yaml\n")
    with pytest.raises(ValueError, match="loops"):
        load_config(PretrainConfig, loop)


def test_environment_variables_fill_a_config_as_in_mmengine(tmp_path, monkeypatch):
    path = tmp_path / "c.yaml"
    path.write_text('data: {path: "{{$EFFICIENTTRAIN_TEST_ROOT:data}}/set",\n'
                    '       split: "{{ $EFFICIENTTRAIN_TEST_SPLIT }}"}\n')
    monkeypatch.setenv("EFFICIENTTRAIN_TEST_SPLIT", "val")
    monkeypatch.delenv("EFFICIENTTRAIN_TEST_ROOT", raising=False)
    data = load_config(PretrainConfig, path).data
    assert (data.path, data.split) == ("data/set", "val")
    monkeypatch.setenv("EFFICIENTTRAIN_TEST_ROOT", "/datasets")
    assert load_config(PretrainConfig, path).data.path == "/datasets/set"
    monkeypatch.delenv("EFFICIENTTRAIN_TEST_SPLIT")
    with pytest.raises(ValueError, match="reads the environment variable EFFICIENTTRAIN_TEST_SPLIT, which is not set"):
        load_config(PretrainConfig, path)


def test_options_a_job_ignores_are_refused_by_name():
    from engine.config import refuse_unused
    from readout.config import ProbeConfig

    cfg = load_config(ProbeConfig, None, ["run.output_dir=/tmp/x"])  # the class's own defaults elsewhere
    refuse_unused(cfg, ["run.save_every", "optim.clip_grad"], "a job")  # ProbeConfig's save_every default is 0
    cfg = load_config(ProbeConfig, None, ["optim.clip_grad=1.0"])
    with pytest.raises(ValueError, match=r"config key optim.clip_grad=1.0 has no effect on a job; leave it unset"):
        refuse_unused(cfg, ["run.save_every", "optim.clip_grad"], "a job")


def test_a_section_given_in_part_keeps_the_trainers_own_defaults():
    """Fine-tuning's sections default to its recipe (output/finetune, no numbered checkpoints, the baseline for 100
    epochs), not to the generic RunConfig / ScheduleConfig: one overridden key leaves the others as they were."""
    from finetune.config import FinetuneConfig

    cfg = load_config(FinetuneConfig, None, ["run.seed=1", "schedule.final_size=64"])
    assert (cfg.run.seed, cfg.run.output_dir, cfg.run.save_every) == (1, "output/finetune", 0)
    assert (cfg.schedule.final_size, cfg.schedule.preset, cfg.schedule.epochs) == (64, "baseline", 100)
