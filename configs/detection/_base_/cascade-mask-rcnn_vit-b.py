# Cascade Mask R-CNN with an MAE-pre-trained ViT-B/16: ViTDet backbone (window attention, relative positions) and
# simple feature pyramid (strides 4-64) in place of ResNet + FPN; heads from mmdet's model base.
_base_ = ['mmdet::_base_/models/cascade-mask-rcnn_r50_fpn.py', './vit-b_vitdet.py']

embed_dim = 768
model = dict(
    backbone={{_base_.vit_b_vitdet}},
    neck=dict(
        _delete_=True,
        type='mmvit.SimpleFeaturePyramid',
        in_channels=embed_dim,
        out_channels=256,
        scale_factors=(4.0, 2.0, 1.0, 0.5),  # strides 4, 8, 16, 32
        num_outs=5,  # + P6 by max pooling for the RPN (ViTDet)
        extra='maxpool',
        norm_cfg=dict(type='mmvit.LN2d')))
