"""`python -m segmentation.test CONFIG CHECKPOINT [--work-dir DIR] [--amp] [--cfg-options k=v ...] [--launcher pytorch]`."""
from mmvit.launch import main

if __name__ == "__main__":
    main("test", "segmentation")
