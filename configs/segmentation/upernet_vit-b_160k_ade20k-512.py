# UperNet 160k on ADE20K (512x512) with an MAE-pre-trained ViT-B/16, following mmseg's MAE-UperNet
# (configs/mae/mae-base_upernet_8xb2-amp-160k_ade20k-512x512.py, inherited here; reference mIoU 48.1 single-scale,
# MAE paper Table 5: 48.1): Feature2Pyramid neck at 768 channels (rescales 4, 2, 1, 0.5), UperNet head at 768,
# AdamW lr 1e-4, weight decay 0.05, layer decay 0.65, 1500 warm-up iterations then poly, batch 2 x 8 GPUs, slide
# inference 512 / stride 341. Ours: the backbone (`mmvit.ViT`: MAE encoder with absolute position embeddings and
# layer scale initialised at the config's 1.0; the class token is dropped rather than carried through the blocks)
# and the layer-decay constructor, which asks the backbone for depths (mmseg's expects BEiT parameter names).
_base_ = ['mmseg::mae/mae-base_upernet_8xb2-amp-160k_ade20k-512x512.py']
custom_imports = dict(imports=['mmvit'], allow_failed_imports=False)

embed_dim = 768
model = dict(
    pretrained=None,
    backbone=dict(
        _delete_=True,
        type='mmvit.ViT',
        img_size=512,
        patch_size=16,
        embed_dim=embed_dim,
        depth=12,
        num_heads=12,
        drop_path_rate=0.1,
        layer_scale=1.0,
        out_indices=(3, 5, 7, 11),
        pretrained='checkpoints/mae_pretrain_vit_base.pth'))

optim_wrapper = dict(
    _delete_=True,
    type='AmpOptimWrapper',  # the inherited `fp16 = dict(...)` is an mmseg 0.x key that mmengine does not read
    constructor='mmvit.LayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(layer_decay_rate=0.65),
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05))
vis_backends = [dict(type='LocalVisBackend'), dict(type='TensorboardVisBackend')]
visualizer = dict(vis_backends=vis_backends)
