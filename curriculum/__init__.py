"""EfficientTrain / EfficientTrain++ curriculum: low-frequency cropping, schedules, cost model and searches.

This package is self-contained: the trainers (``pretrain_mae``, ``finetune``, ``detection``, ``segmentation``)
import it, never the other way round.
"""
from .config import ScheduleConfig, auto_fold, build_schedule
from .cost import MODELS, CostReport, ViTCost, cost_report, get_model_cost
from .fourier import LowFrequencyCrop, low_frequency_crop
from .presets import FAMILIES, PRESETS, Family, make_preset
from .replay import ReplayBuffer
from .schedule import Schedule, Stage, StageValues, round_size
from .search import SearchResult, constrained_search, greedy_search
from .steps import StagePlan, StepPlan

__all__ = [
    "ScheduleConfig", "auto_fold", "build_schedule",
    "MODELS", "CostReport", "ViTCost", "cost_report", "get_model_cost",
    "LowFrequencyCrop", "low_frequency_crop",
    "FAMILIES", "PRESETS", "Family", "make_preset", "ReplayBuffer",
    "Schedule", "Stage", "StageValues", "round_size",
    "SearchResult", "constrained_search", "greedy_search",
    "StagePlan", "StepPlan",
]
