"""Quick classification recipe on the built-in Shapes dataset for the larger MobileNetV4s
(Conv-M, Conv-L, Hybrid-M, Hybrid-L): what `python train.py --model=v4_conv_medium` (and
the others) runs.

    python train.py --model=v4_hybrid_medium          # at width 0.25, a few CPU minutes

Source: configs/shapes_cls_v4.py (Conv-S's) at width 0.25: the larger models have 3-10x
Conv-S's parameters, which six shape classes do not need, and at 0.25 a step costs about
what Conv-S 0.5's does. The attention blocks keep their heads and key size (64 or 48).
Expected: 97.0% validation top-1 for Hybrid-M 0.25 (seed 0, 465 steps; 2026-12-05, 2 shared
cores of an AMD EPYC with AVX-512: 169 user + 17 system CPU seconds); Conv-M, Conv-L and
Hybrid-L not measured to the end (the every-model test trains each for 2 steps).
"""
from configs import shapes_cls_v4


def get_config():
    config = shapes_cls_v4.get_config()
    config.model.update(name="mobilenet_v4_conv_medium", width=0.25)
    return config
