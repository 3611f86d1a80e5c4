# RetinaNet 1x on COCO with an MAE-pre-trained ViT-L/16 (ViTDet's ViT-L settings).
_base_ = './retinanet_vit-b_1x_coco.py'

model = {{_base_.vit_l_model}}
optim_wrapper = {{_base_.vit_l_optim_wrapper}}
