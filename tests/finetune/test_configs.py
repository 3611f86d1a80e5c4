"""Every shipped fine-tuning config loads and builds its schedule; the DeiT-S curricula save what their headers
state against the 300-epoch baseline (EfficientTrain Table 6: 1.56x; the TPAMI 1.5x protocol: 1.54x in FLOPs)."""
import re
from pathlib import Path

import pytest

from curriculum import build_schedule
from engine.config import load_config
from finetune.config import FinetuneConfig
from finetune.datasets import DATASETS
from tests.conftest import mae_vit_macs, schedule_speedup

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs" / "finetune").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_config_builds_its_schedule(path):
    cfg = load_config(FinetuneConfig, path)
    assert cfg.data.dataset in set(DATASETS) | {"synthetic"}
    patch = cfg.model.patch_size or 16
    schedule = build_schedule(cfg.schedule, patch, None, default_family="deit_small")
    assert schedule.final_size == cfg.schedule.final_size and all(s.size % patch == 0 for s in schedule.stages)
    assert schedule.stages[-1].size == schedule.final_size and schedule.stages[0].start == 0
    assert schedule.stages[-1].end == 1 and all(a.end == b.start for a, b in zip(schedule.stages, schedule.stages[1:]))
    stated = re.search(r"(\d\.\d\d)x less computation", path.read_text())
    deit_small = lambda size: mae_vit_macs(size, 16, 12, 384)  # noqa: E731
    if path.stem in ("deit_small_scratch_efficienttrain", "deit_small_scratch_efficienttrainpp"):
        assert stated and round(schedule_speedup(schedule, deit_small, 300), 2) == float(stated.group(1))
    if path.stem == "deit_small_scratch_efficienttrainpp_replay":  # the same steps and computation, less loading
        plain = load_config(FinetuneConfig, path.with_name("deit_small_scratch_efficienttrainpp.yaml")).schedule
        assert schedule_speedup(schedule, deit_small, 300) == pytest.approx(schedule_speedup(
            build_schedule(plain, 16, None, default_family="deit_small"), deit_small, 300), rel=1e-12)
