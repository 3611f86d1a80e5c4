"""``python -m finetune [--config FILE] [--set key=value ...]`` (under torchrun for several GPUs/nodes).

Without ``--config`` it runs the built-in CPU demo (``finetune/demo.yaml``) on generated images.
"""
import sys

from engine.config import parse_args

from .config import DEMO_CONFIG, FinetuneConfig
from .train import finetune


def main(argv=None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--config" not in argv and not any(a.startswith("--config=") for a in argv):
        argv = ["--config", str(DEMO_CONFIG)] + argv
    finetune(parse_args(FinetuneConfig, "Fine-tuning / supervised training with an EfficientTrain curriculum", argv))


if __name__ == "__main__":
    main()
