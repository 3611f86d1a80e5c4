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
