# Cascade Mask R-CNN 3x (multi-scale) on COCO with an MAE-pre-trained ViT-L/16 (ViTDet's ViT-L settings).
_base_ = './cascade-mask-rcnn_vit-b_3x_coco.py'

model = {{_base_.vit_l_model}}
optim_wrapper = {{_base_.vit_l_optim_wrapper}}
