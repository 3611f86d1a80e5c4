# Cascade Mask R-CNN with an MAE-pre-trained ViT-B/16: ViTDet backbone (window attention, relative positions) and
# simple feature pyramid (strides 4-64) in place of ResNet + FPN; heads from mmdet's model base.
_base_ = 'mmdet::_base_/models/cascade-mask-rcnn_r50_fpn.py'
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
        global_blocks=(2, 5, 8, 11),
        use_rel_pos=True,
        out_indices=(-1, ),
        pretrained='checkpoints/mae_pretrain_vit_base.pth'),
    neck=dict(
        _delete_=True,
        type='mmvit.SimpleFeaturePyramid',
        in_channels=embed_dim,
        out_channels=256,
        scale_factors=(4.0, 2.0, 1.0, 0.5),  # strides 4, 8, 16, 32
        num_outs=5,  # + P6 by max pooling for the RPN (ViTDet)
        extra='maxpool',
        norm_cfg=dict(type='mmvit.LN2d')))
