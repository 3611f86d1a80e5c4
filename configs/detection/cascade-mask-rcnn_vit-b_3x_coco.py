# Cascade Mask R-CNN 3x on COCO with ViT-B/16: mmdet's multi-scale (640-800) 3x data and schedule.
_base_ = [
    'mmdet::common/ms_3x_coco-instance.py',
    './_base_/cascade-mask-rcnn_vit-b.py',
]

optim_wrapper = {{_base_.vitdet_optim_wrapper}}
vis_backends = [dict(type='LocalVisBackend'), dict(type='TensorboardVisBackend')]
visualizer = dict(vis_backends=vis_backends)
auto_scale_lr = dict(enable=False, base_batch_size=16)
