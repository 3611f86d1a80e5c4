"""Is our MAE as fast as the official one? Model-only images/s of ``pretrain_mae``'s MAE step against
facebookresearch/mae's ``models_mae.MaskedAutoencoderViT`` (its ``main_pretrain.py`` step: ``loss, _, _ =
model(samples, mask_ratio=0.75)``), same architecture, device, batch, precision and optimizer, alternating in one
process.

The official code is read from a clone you give (``--official DIR``; nothing is downloaded and none of it is part of
this repository) and runs on today's NumPy and timm with two aliases, applied only while it is imported and built:
``np.float`` (``util/pos_embed.py``; removed in NumPy 1.24) and a timm ``Block`` that accepts the removed
``qk_scale=None`` (its default). So "official" means the official model code on the installed timm, whose blocks
use fused attention as ours do. Both models are built from ``MAE_PRESETS[--model]`` (the official
``mae_vit_*_dec512d8b`` numbers for base / large / huge) and must have the same number of trainable parameters.

    git clone https://github.com/facebookresearch/mae /tmp/mae
    python benchmarks/vs_official_mae.py --official /tmp/mae --model mae_vit_base --batch 256 --amp bf16 \\
        --json benchmarks/results/gpu_vs_official_mae_vit_base.json
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import statistics
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np
import torch
from timm.optim import param_groups_weight_decay

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.distributed import resolve_device  # noqa: E402
from engine.runtime import resolve_amp  # noqa: E402
from pretrain_mae.model import MAE_PRESETS, MaskedAutoencoderViT, masking_noise  # noqa: E402
from pretrain_mae.train import mask_keys  # noqa: E402

from benchmarks.pretrain_speed import sync  # noqa: E402
from benchmarks.provenance import command, commit, device_name, write_json  # noqa: E402


@contextlib.contextmanager
def official_on_todays_libraries(repo: Path):
    """``repo`` importable, ``np.float`` defined; on exit both are undone and the modules imported from ``repo``
    (``models_mae``, ``util.*``) forgotten."""
    repo = repo.resolve()
    if not (repo / "models_mae.py").is_file():
        raise FileNotFoundError(f"{repo / 'models_mae.py'} not found: --official takes a clone of "
                                f"https://github.com/facebookresearch/mae")
    had_float = hasattr(np, "float")
    if not had_float:
        np.float = float
    sys.path.insert(0, str(repo))
    try:
        yield
    finally:
        sys.path.remove(str(repo))
        if not had_float:
            del np.float
        for name, module in list(sys.modules.items()):
            if str(getattr(module, "__file__", None) or "").startswith(str(repo)):
                del sys.modules[name]


def build_official(repo: Path, name: str, img_size: int) -> torch.nn.Module:
    """facebookresearch/mae's ``MaskedAutoencoderViT`` with the numbers of ``MAE_PRESETS[name]``, ``norm_pix_loss``."""
    arch = MAE_PRESETS[name]
    with official_on_todays_libraries(repo):
        models_mae = importlib.import_module("models_mae")
        block = models_mae.Block
        models_mae.Block = lambda *args, qk_scale=None, **kwargs: block(*args, **kwargs)
        try:
            return models_mae.MaskedAutoencoderViT(
                img_size=img_size, patch_size=arch.patch_size, embed_dim=arch.embed_dim, depth=arch.depth,
                num_heads=arch.num_heads, decoder_embed_dim=arch.decoder_embed_dim,
                decoder_depth=arch.decoder_depth, decoder_num_heads=arch.decoder_num_heads,
                mlp_ratio=arch.mlp_ratio, norm_layer=partial(torch.nn.LayerNorm, eps=1e-6), norm_pix_loss=True)
        finally:
            models_mae.Block = block


def trainable(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


class Runner:
    """One model's training step (forward, backward, AdamW as in MAE: betas 0.9/0.95, no decay on norms/biases)."""

    def __init__(self, model, forward, device, amp, compile_: bool):
        self.model, self.device, self.amp = model.to(device), device, amp
        self.forward = forward
        self.compiled = torch.compile(self.model, dynamic=False) if compile_ else self.model
        self.optimizer = torch.optim.AdamW(param_groups_weight_decay(self.model, 0.05), lr=1e-5, betas=(0.9, 0.95),
                                           fused=device.type == "cuda")

    def rate(self, images: torch.Tensor, steps: int, warmup: int) -> float:
        for i in range(warmup + steps):
            if i == warmup:
                sync(self.device)
                start = time.perf_counter()
            with torch.autocast(self.device.type, dtype=self.amp or torch.bfloat16, enabled=self.amp is not None):
                loss = self.forward(self.compiled, images, i)
            loss.backward()
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
        sync(self.device)
        return steps * images.shape[0] / (time.perf_counter() - start)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--official", type=Path, required=True, help="a clone of facebookresearch/mae")
    parser.add_argument("--model", default="mae_vit_base", choices=sorted(MAE_PRESETS))
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3, help="alternating measurements of each model (median)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--amp", default="auto")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)

    device = resolve_device(args.device)
    amp = resolve_amp(args.amp, device, None)
    torch.manual_seed(0)
    ours = MaskedAutoencoderViT(MAE_PRESETS[args.model], 0.75, True, img_size=args.size)
    official = build_official(args.official, args.model, args.size)
    if trainable(ours) != trainable(official):
        raise RuntimeError(f"not the same architecture: {trainable(ours)} trainable parameters here, "
                           f"{trainable(official)} in the official model")
    length = ours.grid(args.size) ** 2
    keys = torch.arange(args.batch, device=device)
    runners = {  # ours: the trainer's masking (noise from per-sample keys); official: torch.rand inside the model
        "ours": Runner(ours, lambda m, x, i: m(x, masking_noise(mask_keys(keys, 0, i), length))[0], device, amp,
                       args.compile),
        "official": Runner(official, lambda m, x, i: m(x, mask_ratio=0.75)[0], device, amp, args.compile)}
    images = torch.randn(args.batch, 3, args.size, args.size, device=device)
    rates = {name: [] for name in runners}
    for _ in range(args.repeats):
        for name, runner in runners.items():
            rates[name].append(runner.rate(images, args.steps, args.warmup))
    median = {name: statistics.median(r) for name, r in rates.items()}
    report = {"device": device_name(device), "model": args.model, "size": args.size, "batch": args.batch,
              "amp": str(amp), "compile": args.compile, "trainable_parameters": trainable(ours),
              "ours_images_per_s": median["ours"], "official_images_per_s": median["official"],
              "ours_over_official": median["ours"] / median["official"], "runs": rates, "commit": commit(),
              "command": command("vs_official_mae.py", argv)}
    print(f"\nMAE {args.model} at {args.size} px, batch {args.batch}, {report['device']}, amp {report['amp']}, "
          f"compile {args.compile}: ours {median['ours']:.1f} img/s, official {median['official']:.1f} img/s, "
          f"ratio {report['ours_over_official']:.2f}")
    write_json(args.json, report)
    return report


if __name__ == "__main__":
    main()
