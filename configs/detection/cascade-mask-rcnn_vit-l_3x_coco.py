# Cascade Mask R-CNN 3x (multi-scale) on COCO with an MAE-pre-trained ViT-L/16 (ViTDet: drop path 0.4, decay 0.8).
_base_ = './cascade-mask-rcnn_vit-b_3x_coco.py'

embed_dim = 1024
model = dict(
    backbone=dict(embed_dim=embed_dim, depth=24, num_heads=16, drop_path_rate=0.4, global_blocks=(5, 11, 17, 23),
                  pretrained='checkpoints/mae_pretrain_vit_large.pth'),
    neck=dict(in_channels=embed_dim))
optim_wrapper = dict(paramwise_cfg=dict(layer_decay_rate=0.8))
