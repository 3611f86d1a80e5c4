"""COCO detection and instance segmentation with OpenMMLab (mmdet) on our ViT backbones: see configs/detection and the mmvit scope."""
