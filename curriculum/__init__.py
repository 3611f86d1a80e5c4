"""EfficientTrain / EfficientTrain++ curriculum: low-frequency cropping, schedules, cost model and searches.

This package is self-contained: the trainers (``pretrain_mae``, ``finetune``, ``detection``, ``segmentation``)
import it, never the other way round.
"""
from .cost import MODELS, CostReport, ViTCost, cost_report, get_model_cost
from .fourier import LowFrequencyCrop, low_frequency_crop
from .presets import PRESETS, make_preset
from .replay import ReplayBuffer
from .schedule import Schedule, Stage, StageValues, round_size
from .search import SearchResult, constrained_search, greedy_search

__all__ = [
    "MODELS", "CostReport", "ViTCost", "cost_report", "get_model_cost",
    "LowFrequencyCrop", "low_frequency_crop",
    "PRESETS", "make_preset", "ReplayBuffer",
    "Schedule", "Stage", "StageValues", "round_size",
    "SearchResult", "constrained_search", "greedy_search",
]
