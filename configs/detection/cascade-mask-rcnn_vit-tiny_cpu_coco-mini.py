# CPU-sized Cascade Mask R-CNN for tests and demos: the micro ViT of retinanet_vit-tiny_cpu_coco-mini.py with
# mmdet's heads, on small images of the shared COCO sample. Reports bbox and segm AP.
_base_ = './cascade-mask-rcnn_vit-b_1x_coco.py'

data_root = '../shared/data/coco-mini/'
image_scale = (192, 128)
embed_dim = 96
model = dict(
    backbone=dict(img_size=128, patch_size=8, embed_dim=embed_dim, depth=4, num_heads=3, drop_path_rate=0.0,
                  window_size=4, global_blocks=(1, 3), pretrained=None),
    neck=dict(in_channels=embed_dim, scale_factors=(2.0, 1.0, 0.5, 0.25)),  # strides 4-32 at patch 8
    roi_head=dict(mask_head=dict(num_convs=1, conv_out_channels=64)),
    # few proposals, and every box kept: an 8-iteration model scores near the uniform 1/81
    train_cfg=dict(rpn_proposal=dict(nms_pre=256, max_per_img=64)),
    test_cfg=dict(rpn=dict(nms_pre=200, max_per_img=20), rcnn=dict(score_thr=0.001, max_per_img=20)))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='Resize', scale=image_scale, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=image_scale, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False,
                        dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False,
                      dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val2017.json')
test_evaluator = val_evaluator

train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=8, val_interval=8)
param_scheduler = [dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=4)]
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(lr=2e-4))
default_hooks = dict(logger=dict(interval=2), checkpoint=dict(by_epoch=False, interval=4, max_keep_ckpts=2))
log_processor = dict(by_epoch=False)
env_cfg = dict(dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0)
