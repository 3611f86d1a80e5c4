"""ADE20K semantic segmentation with OpenMMLab (mmseg) on our ViT backbones: see configs/segmentation and the mmvit scope."""
