"""LR-ASPP on MobileNetV3-Small, Cityscapes fine annotations, from scratch.

    python train.py --model=lraspp_v3_small --dataset=cityscapes --data_dir=DIR

Source: MobileNetV3 paper (arXiv:1905.02244 v5), section 6.4, Table 7 row 11; trained as
lraspp_v3_large_cityscapes.py (the paper trains both alike, and research/deeplab's zoo uses
the same flags for mobilenetv3_small_cityscapes_trainfine).
Expected: 68.38% val mIoU (Table 7; 68.99% for research/deeplab's checkpoint at output
stride 32); 0.47M params, 2.90B MAdds at 1024x2048 (ours: 0.48M, 2.69B). Not reproduced
here. Time: about half the Large recipe's, not measured.
"""
import importlib


def get_config():
    config = importlib.import_module("configs.lraspp_v3_large_cityscapes").get_config()
    config.model.name = "lraspp_v3_small"
    return config
