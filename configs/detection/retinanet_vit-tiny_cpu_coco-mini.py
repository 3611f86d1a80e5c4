# CPU-sized RetinaNet for tests and demos: a micro ViT (patch 8, width 96, 4 blocks, windows of 4 with 2 global
# blocks) on small images of COCO-mini. Weights: --cfg-options model.backbone.pretrained=encoder.pth
_base_ = [
    './_base_/retinanet_vit-b.py',
    './_base_/coco-mini_cpu.py',
]

embed_dim = 96
model = dict(
    backbone=dict(img_size=128, patch_size=8, embed_dim=embed_dim, depth=4, num_heads=3, drop_path_rate=0.0,
                  window_size=4, global_blocks=(1, 3), pretrained=None),
    neck=dict(in_channels=embed_dim, out_channels=64, scale_factors=(1.0, 0.5, 0.25)),  # strides 8-32 at patch 8
    bbox_head=dict(in_channels=64, feat_channels=64, stacked_convs=1),
    test_cfg=dict(score_thr=0.001))  # an 8-iteration model scores near its 0.01 prior: keep them for the AP
val_evaluator = dict(metric='bbox')
test_evaluator = val_evaluator
