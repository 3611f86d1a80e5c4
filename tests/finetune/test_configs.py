"""Every shipped fine-tuning config loads."""
from pathlib import Path

import pytest

from engine.config import load_config
from finetune.config import FinetuneConfig
from finetune.datasets import DATASETS

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs" / "finetune").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_config_loads(path):
    cfg = load_config(FinetuneConfig, path)
    assert cfg.data.dataset in set(DATASETS) | {"synthetic"}
    assert cfg.schedule.epochs > 0
    if cfg.schedule.preset != "baseline":
        from curriculum import build_schedule
        build_schedule(cfg.schedule, 16, None)
