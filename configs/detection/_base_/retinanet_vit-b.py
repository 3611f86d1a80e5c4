# RetinaNet with an MAE-pre-trained ViT-B/16: ViTDet backbone and simple feature pyramid (strides 8-128) in place
# of ResNet + FPN; head from mmdet's model base.
_base_ = ['mmdet::_base_/models/retinanet_r50_fpn.py', './vit-b_vitdet.py']

embed_dim = 768
model = dict(
    backbone={{_base_.vit_b_vitdet}},
    neck=dict(
        _delete_=True,
        type='mmvit.SimpleFeaturePyramid',
        in_channels=embed_dim,
        out_channels=256,
        scale_factors=(2.0, 1.0, 0.5),  # strides 8, 16, 32 from the stride-16 map
        num_outs=5,  # + P6, P7 (strides 64, 128) for RetinaNet's anchors
        extra='conv',
        norm_cfg=dict(type='mmvit.LN2d')))
