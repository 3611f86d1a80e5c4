# RetinaNet, ViTDet recipe, MAE-pre-trained ViT-L/16: ViTDet's ViT-L settings (`_base_/vit-b_vitdet.py`).
_base_ = './retinanet_vit-b_vitdet-lsj-100e_coco.py'

model = {{_base_.vit_l_model}}
optim_wrapper = {{_base_.vit_l_optim_wrapper}}
