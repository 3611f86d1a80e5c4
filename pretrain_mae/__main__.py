"""``python -m pretrain_mae [--config FILE] [--set key=value ...]`` (under torchrun for several GPUs/nodes).

Without ``--config`` it runs the built-in CPU demo (``pretrain_mae/demo.yaml``) on generated images.
"""
from engine.cli import main_guard
from engine.config import parse_args

from .config import DEMO_CONFIG, PretrainConfig
from .train import pretrain


@main_guard()
def main(argv=None) -> None:
    pretrain(parse_args(PretrainConfig, "MAE pre-training with an EfficientTrain curriculum", argv,
                        default_config=DEMO_CONFIG))


if __name__ == "__main__":
    main()
