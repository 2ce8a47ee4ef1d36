"""MobileNetV3-Small 1.0 on ImageNet: the paper's own recipe (section 6.1).

    python train.py --config=configs/mobilenet_v3_small_imagenet_paper.py --data_dir=DIR

Source: Howard et al., arXiv:1905.02244, section 6.1, the same setup as V3-Large
(configs/mobilenet_v3_large_imagenet_paper.py and common.mobilenet_v3_paper say what the paper
states and where the unstated values come from): RMSProp momentum 0.9, 0.1 at batch 4096,
x0.99 every 3 epochs, dropout 0.2, L2 1e-5, EMA 0.9999, batch norm decay 0.99.
Expected: 67.4% top-1 (Table 3, V3-Small 1.0).
Time: not given; a 4x4 TPU Pod (32 chips).
Not applied: slim's Inception colour distortion (ours: 8-100% area crops and flips).
"""
from configs import common


def get_config():
    return common.mobilenet_v3_paper(common.base(model="mobilenet_v3_small", dataset="imagenet"))
