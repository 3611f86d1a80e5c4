"""Weights by name: ``hf-hub:<org>/<model>.<tag>`` resolved through huggingface_hub and its cache.

``hf-hub:timm/vit_base_patch16_224.mae`` names the official MAE ViT-B/16 encoder as timm publishes it (the repository
``timm/vit_base_patch16_224.mae`` on the Hugging Face Hub, timm's ``hf-hub:`` naming). Only a string with the prefix
is a tag, so a local path is never read as one. The file is ``model.safetensors`` (else ``pytorch_model.bin``),
looked up in huggingface_hub's cache (``HF_HUB_CACHE`` / ``HF_HOME``) and downloaded only where the hub is reachable
and ``HF_HUB_OFFLINE`` is unset. With neither, the error names the tag and where to put the file.
"""
from __future__ import annotations

from pathlib import Path

__all__ = ["HUB_PREFIX", "is_hub_tag", "hub_model_name", "resolve_weights"]

HUB_PREFIX = "hf-hub:"
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


def is_hub_tag(source) -> bool:
    return isinstance(source, str) and source.startswith(HUB_PREFIX)


def hub_model_name(source: str) -> str:
    """The timm architecture a tag names: ``hf-hub:timm/vit_base_patch16_224.mae`` -> ``vit_base_patch16_224``."""
    return source[len(HUB_PREFIX):].split("/", 1)[-1].split(".", 1)[0]


def resolve_weights(source: str) -> Path:
    """The local file behind ``source``: a tag resolved through the cache (or a download), a path unchanged."""
    if not is_hub_tag(source):
        return Path(source)
    from huggingface_hub import constants, hf_hub_download
    from huggingface_hub.errors import HFValidationError

    repo = source[len(HUB_PREFIX):]
    if repo.count("/") != 1 or not all(repo.split("/")):
        raise ValueError(f"weights tag {source!r} must look like hf-hub:<org>/<model>.<tag>, e.g. "
                         f"hf-hub:timm/vit_base_patch16_224.mae")
    reasons = []
    for filename in WEIGHT_FILES:
        try:
            return Path(hf_hub_download(repo, filename))
        except HFValidationError as err:
            raise ValueError(f"weights tag {source!r} is not a valid Hugging Face repository name: {err}") from None
        except Exception as err:  # noqa: BLE001 (offline, not cached, not found: every hub failure is reported)
            reasons.append(f"{filename}: {type(err).__name__}")
    folder = Path(constants.HF_HUB_CACHE) / f"models--{repo.replace('/', '--')}"
    raise FileNotFoundError(
        f"weights {source} are neither in the Hugging Face cache ({folder}) nor downloadable here "
        f"({', '.join(reasons)}); on a connected machine run `hf download {repo} model.safetensors` and copy its "
        f"cache folder, or set HF_HUB_CACHE to a cache that holds it")
