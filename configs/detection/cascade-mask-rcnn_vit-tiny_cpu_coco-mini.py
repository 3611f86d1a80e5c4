# CPU-sized Cascade Mask R-CNN for tests and demos: the micro ViT of retinanet_vit-tiny_cpu_coco-mini.py with
# mmdet's heads (a one-conv mask head), on small images of COCO-mini. Reports bbox and segm AP.
_base_ = [
    './_base_/cascade-mask-rcnn_vit-b.py',
    './_base_/coco-mini_cpu.py',
]

embed_dim = 96
model = dict(
    backbone=dict(img_size=128, patch_size=8, embed_dim=embed_dim, depth=4, num_heads=3, drop_path_rate=0.0,
                  window_size=4, global_blocks=(1, 3), pretrained=None),
    neck=dict(in_channels=embed_dim, scale_factors=(2.0, 1.0, 0.5, 0.25)),  # strides 4-32 at patch 8
    roi_head=dict(mask_head=dict(num_convs=1, conv_out_channels=64)),
    # few proposals, and every box kept: an 8-iteration model scores near the uniform 1/81
    train_cfg=dict(rpn_proposal=dict(nms_pre=256, max_per_img=64)),
    test_cfg=dict(rpn=dict(nms_pre=200, max_per_img=20), rcnn=dict(score_thr=0.001, max_per_img=20)))
