# The ViT-B/16 backbone of ViTDet (Li et al. 2022) for the detection models here: window attention (14) with global
# attention in 4 evenly spaced blocks, relative positions, MAE-pre-trained weights (resampled to 1024 px).
custom_imports = dict(imports=['mmvit'], allow_failed_imports=False)
vit_b_vitdet = dict(
    _delete_=True,
    type='mmvit.ViT',
    img_size=1024,
    patch_size=16,
    embed_dim=768,
    depth=12,
    num_heads=12,
    drop_path_rate=0.1,
    window_size=14,
    global_blocks=(2, 5, 8, 11),
    use_rel_pos=True,
    out_indices=(-1, ),
    pretrained='checkpoints/mae_pretrain_vit_base.pth')
# ViTDet's optimiser for ViT-B: AdamW with layer-wise lr decay 0.7 (depths from the backbone), mixed precision.
vitdet_optim_wrapper = dict(
    _delete_=True,
    type='AmpOptimWrapper',
    constructor='mmvit.LayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(layer_decay_rate=0.7),
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.1),
    clip_grad=None)
# ViT-L/16 in ViTDet (detectron2 projects/ViTDet/configs/COCO/*_vitdet_l_100ep.py): width 1024, 24 blocks, 16 heads,
# drop path 0.4, global attention in blocks 6, 12, 18, 24, layer decay 0.8. A ViT-L config merges these.
vit_l_vitdet = dict(embed_dim=1024, depth=24, num_heads=16, drop_path_rate=0.4, global_blocks=(5, 11, 17, 23),
                    pretrained='checkpoints/mae_pretrain_vit_large.pth')
vit_l_model = dict(backbone=vit_l_vitdet, neck=dict(in_channels=1024))
vit_l_optim_wrapper = dict(paramwise_cfg=dict(layer_decay_rate=0.8))
