# RetinaNet 1x on COCO with an MAE-pre-trained ViT-B/16 (EfficientTrain TPAMI Table 17 protocol, ViTDet backbone).
# Inherits mmdet's RetinaNet, COCO and 1x bases; only the backbone, neck and optimiser are ours (scope `mmvit`).
# Weights: model.backbone.pretrained = an encoder.pth / checkpoint from pretrain_mae, finetune or facebookresearch/mae.
_base_ = [
    'mmdet::_base_/models/retinanet_r50_fpn.py',
    'mmdet::_base_/datasets/coco_detection.py',
    'mmdet::_base_/schedules/schedule_1x.py',
    'mmdet::_base_/default_runtime.py',
]
custom_imports = dict(imports=['mmvit'], allow_failed_imports=False)

embed_dim = 768
model = dict(
    backbone=dict(
        _delete_=True,
        type='mmvit.ViT',
        img_size=1024,
        patch_size=16,
        embed_dim=embed_dim,
        depth=12,
        num_heads=12,
        drop_path_rate=0.1,
        window_size=14,
        global_blocks=(2, 5, 8, 11),  # ViTDet: global attention in 4 evenly spaced blocks
        use_rel_pos=True,
        out_indices=(-1, ),
        pretrained='checkpoints/mae_pretrain_vit_base.pth'),
    neck=dict(
        _delete_=True,
        type='mmvit.SimpleFeaturePyramid',
        in_channels=embed_dim,
        out_channels=256,
        scale_factors=(2.0, 1.0, 0.5),  # strides 8, 16, 32 from the stride-16 map
        num_outs=5,  # + P6, P7 (strides 64, 128) for RetinaNet's anchors
        extra='conv',
        norm_cfg=dict(type='mmvit.LN2d')))

optim_wrapper = dict(
    _delete_=True,
    type='AmpOptimWrapper',
    constructor='mmvit.LayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(layer_decay_rate=0.7),  # ViTDet, ViT-B
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.1),
    clip_grad=None)
vis_backends = [dict(type='LocalVisBackend'), dict(type='TensorboardVisBackend')]
visualizer = dict(vis_backends=vis_backends)
auto_scale_lr = dict(enable=False, base_batch_size=16)
