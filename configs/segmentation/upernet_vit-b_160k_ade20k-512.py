# UperNet 160k on ADE20K (512x512 crops) with an MAE-pre-trained ViT-B/16: the MAE paper's transfer protocol
# (He et al. 2022, Sec. 5 / A.4: AdamW lr 1e-4, weight decay 0.05, layer decay 0.65, batch 16, drop path 0.1) with
# features from blocks 4, 6, 8, 12 brought to strides 4-32 by the simple feature pyramid. mmseg's UperNet,
# ADE20K and 160k bases are inherited; only backbone, neck and optimiser are ours (scope `mmvit`).
_base_ = [
    'mmseg::_base_/models/upernet_r50.py',
    'mmseg::_base_/datasets/ade20k.py',
    'mmseg::_base_/schedules/schedule_160k.py',
    'mmseg::_base_/default_runtime.py',
]
custom_imports = dict(imports=['mmvit'], allow_failed_imports=False)

crop_size = (512, 512)
embed_dim = 768
model = dict(
    data_preprocessor=dict(size=crop_size),
    pretrained=None,
    backbone=dict(
        _delete_=True,
        type='mmvit.ViT',
        img_size=512,
        patch_size=16,
        embed_dim=embed_dim,
        depth=12,
        num_heads=12,
        drop_path_rate=0.1,
        out_indices=(3, 5, 7, 11),
        pretrained='checkpoints/mae_pretrain_vit_base.pth'),
    neck=dict(
        type='mmvit.SimpleFeaturePyramid',
        in_channels=embed_dim,
        out_channels=embed_dim,
        scale_factors=(4.0, 2.0, 1.0, 0.5),  # one per backbone output: strides 4, 8, 16, 32
        norm_cfg=dict(type='mmvit.LN2d')),
    decode_head=dict(in_channels=[embed_dim] * 4, channels=embed_dim, num_classes=150),
    auxiliary_head=dict(in_channels=embed_dim, num_classes=150),
    test_cfg=dict(mode='slide', crop_size=crop_size, stride=(341, 341)))

optim_wrapper = dict(
    _delete_=True,
    type='AmpOptimWrapper',
    constructor='mmvit.LayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(layer_decay_rate=0.65),
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(type='PolyLR', eta_min=0.0, power=1.0, begin=1500, end=160000, by_epoch=False),
]
train_dataloader = dict(batch_size=2)  # x 8 GPUs = 16
vis_backends = [dict(type='LocalVisBackend'), dict(type='TensorboardVisBackend')]
visualizer = dict(vis_backends=vis_backends)
