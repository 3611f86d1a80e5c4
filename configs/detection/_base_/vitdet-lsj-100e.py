# ViTDet's COCO schedule (Li et al. 2022; detectron2 projects/ViTDet/configs/COCO/mask_rcnn_vitdet_b_100ep.py,
# mmdet projects/ViTDet/configs/lsj-100e_coco-instance.py): 100 epochs = 184375 iterations of 64 images, lr x0.1
# at iterations 163889 and 177546 (8/9 and 26/27 of training; the official comments call them epochs 88 and 96),
# 250 warm-up iterations from 0.001. Defined as `vitdet_*` names
# that a config assigns, so this base combines with mmdet's LSJ data bases without duplicate keys.
vitdet_max_iters = 184375
vitdet_interval = 5000
vitdet_train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=vitdet_max_iters,
                        val_interval=vitdet_interval)  # replaces the LSJ base's epoch loop
vitdet_param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=250),
    dict(type='MultiStepLR', begin=0, end=vitdet_max_iters, by_epoch=False, milestones=[163889, 177546], gamma=0.1),
]
vitdet_default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=vitdet_interval, save_last=True, max_keep_ckpts=5))
