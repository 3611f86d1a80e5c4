# Cascade Mask R-CNN 1x on COCO with ViT-B/16 (EfficientTrain TPAMI Table 17 protocol); AdamW with layer-wise lr
# decay 0.7 as in ViTDet, mixed precision. Data and schedule are mmdet's COCO-instance and 1x bases.
_base_ = [
    './_base_/cascade-mask-rcnn_vit-b.py',
    'mmdet::_base_/datasets/coco_instance.py',
    'mmdet::_base_/schedules/schedule_1x.py',
    'mmdet::_base_/default_runtime.py',
]

optim_wrapper = {{_base_.vitdet_optim_wrapper}}
vis_backends = [dict(type='LocalVisBackend'), dict(type='TensorboardVisBackend')]
visualizer = dict(vis_backends=vis_backends)
auto_scale_lr = dict(enable=False, base_batch_size=16)
