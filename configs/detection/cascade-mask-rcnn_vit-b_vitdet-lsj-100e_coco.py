# Cascade Mask R-CNN on COCO with an MAE-pre-trained ViT-B/16 under the ViTDet protocol (Li et al. 2022;
# detectron2 projects/ViTDet/configs/COCO/cascade_mask_rcnn_vitdet_b_100ep.py, 54.0 box AP / 46.7 mask AP in its
# model zoo): large-scale jitter at 1024 (mmdet's `common/lsj-100e_coco-instance.py` data: resize 0.1-2.0,
# 1024 crop, flip), 100 epochs at batch 64 (4 images x 16 GPUs), AdamW lr 1e-4 / weight decay 0.1 with layer
# decay 0.7, mixed precision, and ViTDet's heads: a 2-conv RPN head, three 4conv1fc box heads and a 4-conv mask
# head, all convs with LayerNorm. Images are padded to 1024x1024 in training (BatchFixedSizePad) and test
# (ViTDet's square_pad). mmdet's ViTDet project (projects/ViTDet) is not part of the installed package, so its few
# lines are written here. The cheaper 1x / 3x configs (1333x800, batch 16, stock heads) stay beside this one.
_base_ = [
    './_base_/cascade-mask-rcnn_vit-b.py',
    'mmdet::common/lsj-100e_coco-instance.py',
    './_base_/vitdet-lsj-100e.py',
]

image_size = (1024, 1024)
norm_cfg = dict(type='mmvit.LN2d')
stage_stds = [[0.1, 0.1, 0.2, 0.2], [0.05, 0.05, 0.1, 0.1], [0.033, 0.033, 0.067, 0.067]]  # mmdet's cascade base
model = dict(
    data_preprocessor=dict(pad_size_divisor=1024,  # = ViTDet's square_pad (see below)
                           batch_augments=[dict(type='BatchFixedSizePad', size=image_size, pad_mask=True)]),
    rpn_head=dict(num_convs=2),
    roi_head=dict(
        bbox_head=[
            dict(type='Shared4Conv1FCBBoxHead', in_channels=256, conv_out_channels=256, fc_out_channels=1024,
                 roi_feat_size=7, num_classes=80, norm_cfg=norm_cfg, reg_class_agnostic=True,
                 bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[0.0, 0.0, 0.0, 0.0], target_stds=stds),
                 loss_cls=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
                 loss_bbox=dict(type='SmoothL1Loss', beta=1.0, loss_weight=1.0))
            for stds in stage_stds],
        mask_head=dict(norm_cfg=norm_cfg)),
    # detectron2's RPN keeps anchors that cross the image border (MODEL.RPN.BOUNDARY_THRESH = -1); LSJ shrinks
    # images down to 0.1x, where mmdet's cascade default (0: inside anchors only) can leave none
    train_cfg=dict(rpn=dict(allowed_border=-1)))

# Test images are resized to fit 1024 and padded to 1024x1024 by the data preprocessor (pad_size_divisor), after
# normalisation as ViTDet's square_pad; a Pad transform here would set img_shape to the padded size, so boxes would
# be clipped to the padding instead of the image (and mmdet's CPU mask pasting fails on boxes inside it).
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=image_size, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(batch_size=4, num_workers=8)  # x 16 GPUs = 64
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

train_cfg = {{_base_.vitdet_train_cfg}}
param_scheduler = {{_base_.vitdet_param_scheduler}}
optim_wrapper = {{_base_.vitdet_optim_wrapper}}
default_hooks = {{_base_.vitdet_default_hooks}}
log_processor = dict(by_epoch=False)
vis_backends = [dict(type='LocalVisBackend'), dict(type='TensorboardVisBackend')]
visualizer = dict(vis_backends=vis_backends)
auto_scale_lr = dict(enable=False, base_batch_size=64)
