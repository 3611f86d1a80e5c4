"""The official-MAE comparison's plumbing, on a stand-in for a facebookresearch/mae clone written here: the
official code's two incompatibilities with today's libraries are bridged and then undone, the architecture check
refuses a different model, and the report holds the ratio of the two rates (never the timings themselves)."""
import json
import statistics
import sys
import textwrap

import numpy as np
import pytest

from benchmarks.vs_official_mae import main

STAND_IN = '''
import numpy as np
import torch
from timm.models.vision_transformer import Block

from util.pos_embed import omega
from pretrain_mae.model import MAEArch, MaskedAutoencoderViT as Ours


class MaskedAutoencoderViT(torch.nn.Module):
    """Built from the official constructor's arguments; uses the two things today's libraries dropped."""

    def __init__(self, img_size, patch_size, embed_dim, depth, num_heads, decoder_embed_dim, decoder_depth,
                 decoder_num_heads, mlp_ratio, norm_layer, norm_pix_loss):
        super().__init__()
        Block(embed_dim, num_heads, mlp_ratio, qkv_bias=True, qk_scale=None, norm_layer=norm_layer)
        assert omega().dtype == np.float64
        arch = MAEArch(patch_size, embed_dim, depth, num_heads, decoder_embed_dim, decoder_depth, decoder_num_heads,
                       mlp_ratio)
        self.inner = Ours(arch, 0.75, norm_pix_loss, img_size=img_size)
        EXTRA

    def forward(self, imgs, mask_ratio=0.75):
        return self.inner(imgs)
'''


def clone(root, extra="pass"):
    (root / "util").mkdir(parents=True)
    (root / "util" / "__init__.py").write_text("")
    (root / "util" / "pos_embed.py").write_text(
        "import numpy as np\n\ndef omega():\n    return np.arange(4, dtype=np.float)\n")
    (root / "models_mae.py").write_text(textwrap.dedent(STAND_IN).replace("EXTRA", extra))
    return root


def run(official, tmp_path):
    out = tmp_path / "report.json"
    main(["--official", str(official), "--model", "mae_vit_tiny", "--size", "32", "--batch", "2", "--steps", "1",
          "--warmup", "1", "--repeats", "2", "--device", "cpu", "--json", str(out)])
    return json.loads(out.read_text())


def test_report_on_a_stand_in_clone_and_the_bridges_are_undone(tmp_path):
    report = run(clone(tmp_path / "mae"), tmp_path)
    runs = report["runs"]  # the ratio of the medians of the repeats themselves
    assert len(runs["ours"]) == len(runs["official"]) == 2 and all(r > 0 for r in runs["ours"] + runs["official"])
    assert report["ours_over_official"] == pytest.approx(statistics.median(runs["ours"]) /
                                                         statistics.median(runs["official"]))
    assert report["trainable_parameters"] > 0 and report["commit"] and report["command"]
    assert not hasattr(np, "float") and "models_mae" not in sys.modules and "util.pos_embed" not in sys.modules
    assert not any("mae" in p and str(tmp_path) in p for p in sys.path)


def test_another_architecture_or_no_clone_is_refused(tmp_path):
    with pytest.raises(RuntimeError, match="not the same architecture"):
        run(clone(tmp_path / "mae", extra="self.extra = torch.nn.Linear(4, 4)"), tmp_path)
    with pytest.raises(FileNotFoundError, match="facebookresearch/mae"):
        run(tmp_path / "empty", tmp_path)
