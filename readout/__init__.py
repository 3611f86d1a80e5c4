"""Readouts that judge a frozen backbone: MAE's linear probe (``readout.linprobe``, ``python -m readout.linprobe``) and
weighted kNN (``readout.knn``, ``python -m readout.knn``), on our encoders, official MAE files, any timm model or an
``hf-hub:`` tag (``readout.encoder``). ``pretrain_mae`` draws a kNN curve during pre-training from its ``eval:``
section with ``readout.knn.knn_accuracy``.
"""
