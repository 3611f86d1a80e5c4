# CPU-sized MAE-UperNet for tests and demos: a micro ViT (patch 8, width 96, 4 blocks) with the Feature2Pyramid
# neck and a narrow UperNet head on 128x128 crops of a genuine ADE20K pair (ADEChallengeData2016 layout,
# 150 classes).
_base_ = './upernet_vit-b_160k_ade20k-512.py'

data_root = '{{$EFFICIENTTRAIN_DATA:data}}/ade20k-2img'  # or --data-root DIR
crop_size = (128, 128)
embed_dim = 96
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(img_size=128, patch_size=8, embed_dim=embed_dim, depth=4, num_heads=3, drop_path_rate=0.0,
                  out_indices=(0, 1, 2, 3), pretrained=None),
    neck=dict(embed_dim=embed_dim, rescales=[2, 1, 0.5, 0.25]),  # strides 4-32 at patch 8
    decode_head=dict(in_channels=[embed_dim] * 4, channels=64),
    auxiliary_head=dict(in_channels=embed_dim, channels=32),
    test_cfg=dict(mode='slide', crop_size=crop_size, stride=(96, 96)))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='RandomResize', scale=(512, 128), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(512, 128), keep_ratio=True),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False,
                        dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(num_workers=0, persistent_workers=False,
                      dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader

optim_wrapper = dict(type='OptimWrapper', optimizer=dict(lr=2e-4))
param_scheduler = [dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=4)]
train_cfg = dict(max_iters=8, val_interval=8)
default_hooks = dict(logger=dict(interval=2), checkpoint=dict(interval=4, max_keep_ckpts=2))
env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0)
