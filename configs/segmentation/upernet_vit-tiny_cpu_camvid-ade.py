# CPU-sized UperNet on CamVid in ADE20K layout under $EFFICIENTTRAIN_DATA (11 classes; label 0 is void and ignored).
_base_ = './upernet_vit-tiny_cpu_ade20k-2img.py'

data_root = '{{$EFFICIENTTRAIN_DATA:data}}/camvid-ade'  # or --data-root DIR
classes = ('Sky', 'Building', 'Pole', 'Road', 'Pavement', 'Tree', 'SignSymbol', 'Fence', 'Car', 'Pedestrian',
           'Bicyclist')
metainfo = dict(classes=classes, palette=[[i * 23 % 256, i * 67 % 256, i * 131 % 256] for i in range(len(classes))])
dataset = dict(type='BaseSegDataset', data_root=data_root, metainfo=metainfo, img_suffix='.jpg',
               seg_map_suffix='.png', reduce_zero_label=True)
model = dict(decode_head=dict(num_classes=len(classes)), auxiliary_head=dict(num_classes=len(classes)))
train_dataloader = dict(dataset=dataset)
val_dataloader = dict(dataset=dataset)
test_dataloader = val_dataloader
