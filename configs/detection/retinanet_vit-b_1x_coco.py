# RetinaNet 1x on COCO with an MAE-pre-trained ViT-B/16 (EfficientTrain TPAMI Table 17 protocol, ViTDet backbone);
# AdamW with layer-wise lr decay 0.7, mixed precision. Data and schedule are mmdet's COCO and 1x bases.
# Weights: model.backbone.pretrained = an encoder.pth / checkpoint from pretrain_mae, finetune or facebookresearch/mae.
_base_ = [
    './_base_/retinanet_vit-b.py',
    'mmdet::_base_/datasets/coco_detection.py',
    'mmdet::_base_/schedules/schedule_1x.py',
    'mmdet::_base_/default_runtime.py',
]

optim_wrapper = {{_base_.vitdet_optim_wrapper}}
vis_backends = [dict(type='LocalVisBackend'), dict(type='TensorboardVisBackend')]
visualizer = dict(vis_backends=vis_backends)
auto_scale_lr = dict(enable=False, base_batch_size=16)
