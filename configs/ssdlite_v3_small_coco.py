"""SSDLite on MobileNetV3-Small (halved last stage) at 320x320 on COCO 2017.

    python train.py --model=ssdlite_v3_small --dataset=coco --data_dir=DIR

Source: the TF Object Detection API's ssdlite_mobilenet_v3_small_320x320_coco.config, which
differs from the Large one (configs/ssdlite_v3_large_coco.py, its settings and sources) only
in the backbone: batch 512, momentum 0.9, cosine from 0.4 over 400k steps with warm-up,
focal loss, random crop and flip, L2 4e-5, batch norm decay 0.97.
Expected: 16.1 COCO mAP (V3 paper, Table 6, "V3-Small dagger"; the OD API model zoo gives
15.4); not reproduced here (no accelerator).
"""
from configs import ssdlite_v3_large_coco


def get_config():
    config = ssdlite_v3_large_coco.get_config()
    config.model.name = "ssdlite_v3_small"
    return config
