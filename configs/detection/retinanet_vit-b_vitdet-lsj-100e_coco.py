# RetinaNet on COCO with an MAE-pre-trained ViT-B/16, ViTDet's recipe adapted (ViTDet has no RetinaNet): its
# backbone and simple feature pyramid (strides 8-128 here), its data (large-scale jitter at 1024, mmdet's
# `common/lsj-100e_coco-detection.py`), schedule (100 epochs at batch 64, lr x0.1 at iterations 163889 and 177546) and
# optimiser (AdamW lr 1e-4, weight decay 0.1, layer decay 0.7, mixed precision). The head is mmdet's RetinaNet head
# unchanged (ViTDet's LayerNorm heads are two-stage heads; RetinaNet's own recipe has no norm in its head).
_base_ = [
    './_base_/retinanet_vit-b.py',
    'mmdet::common/lsj-100e_coco-detection.py',
    './_base_/vitdet-lsj-100e.py',
]

image_size = (1024, 1024)
model = dict(data_preprocessor=dict(pad_size_divisor=1024,  # = ViTDet's square_pad (see below)
                                    batch_augments=[dict(type='BatchFixedSizePad', size=image_size)]))

# Test images are resized to fit 1024 and padded to 1024x1024 by the data preprocessor (pad_size_divisor), after
# normalisation as ViTDet's square_pad; a Pad transform here would set img_shape to the padded size, so boxes would
# be clipped to the padding instead of the image (and mmdet's CPU mask pasting fails on boxes inside it).
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=image_size, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
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
