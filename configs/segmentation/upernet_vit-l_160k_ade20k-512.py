# UperNet 160k on ADE20K (512x512) with an MAE-pre-trained ViT-L/16: the ViT-B protocol of
# upernet_vit-b_160k_ade20k-512.py (mmseg ships no ViT-L MAE-UperNet config) at width 1024, features from blocks
# 8, 12, 16, 24, drop path 0.2. Reference: MAE paper Table 5, ViT-L 53.6 mIoU.
_base_ = './upernet_vit-b_160k_ade20k-512.py'

embed_dim = 1024
model = dict(
    backbone=dict(embed_dim=embed_dim, depth=24, num_heads=16, drop_path_rate=0.2, out_indices=(7, 11, 15, 23),
                  pretrained='checkpoints/mae_pretrain_vit_large.pth'),
    neck=dict(embed_dim=embed_dim),
    decode_head=dict(in_channels=[embed_dim] * 4, channels=embed_dim),
    auxiliary_head=dict(in_channels=embed_dim))
