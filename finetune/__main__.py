"""``python -m finetune [--config FILE] [--set key=value ...]`` (under torchrun for several GPUs/nodes).

Without ``--config`` it runs the built-in CPU demo (``finetune/demo.yaml``) on generated images.
"""
from engine.cli import main_guard
from engine.config import parse_args

from .config import DEMO_CONFIG, FinetuneConfig
from .train import finetune


@main_guard()
def main(argv=None) -> None:
    finetune(parse_args(FinetuneConfig, "Fine-tuning / supervised training with an EfficientTrain curriculum", argv,
                        default_config=DEMO_CONFIG))


if __name__ == "__main__":
    main()
