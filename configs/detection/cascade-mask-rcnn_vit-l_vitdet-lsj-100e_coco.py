# Cascade Mask R-CNN, ViTDet protocol, MAE-pre-trained ViT-L/16 (detectron2
# projects/ViTDet/configs/COCO/cascade_mask_rcnn_vitdet_l_100ep.py, 57.6 box AP / 50.0 mask AP in its
# model zoo): ViTDet's ViT-L settings (`_base_/vit-b_vitdet.py`), 100 epochs.
_base_ = './cascade-mask-rcnn_vit-b_vitdet-lsj-100e_coco.py'

model = {{_base_.vit_l_model}}
optim_wrapper = {{_base_.vit_l_optim_wrapper}}
