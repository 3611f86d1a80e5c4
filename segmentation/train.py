"""`python -m segmentation.train CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp] [--cfg-options k=v ...] [--launcher pytorch]`."""
from mmvit.launch import main

if __name__ == "__main__":
    main("train", "segmentation")
