"""Quick segmentation recipe on the built-in Shapes masks for Mobile DeepLabv3 (MobileNetV2
0.5): what `python train.py --model=deeplabv3_v2 --dataset=shapes` runs.

    python train.py --model=deeplabv3_v2 --dataset=shapes     # about 9 CPU minutes

Source: shapes_seg.py (Adam 5e-3, cosine decay, batch-norm momentum 0.9, 96x96 images, the
background at half weight, 1,500 steps of 16) with what V2 from scratch needs: every
residual block starting as the identity (zero_init_residual, as configs/shapes_cls_v2.py;
V2's first epochs otherwise sit near chance), and output stride 8 (a 12x12 map rather than
6x6: DeepLabv3 has no decoder, so its logits are only as fine as the backbone's last map,
and the small shapes are a few pixels across). The test's short LR-ASPP run on this model
(width 0.35, 600 steps, stride 16) reached 0.217 mIoU, barely past the background.
Expected: 76.4% validation mIoU (96.5% pixel accuracy), seed 0, after the 1,500 steps,
measured 2026-12-05 on 2 shared cores of an AMD EPYC with AVX-512 (VNNI, BF16): 499 user +
35 system CPU seconds. No test trains it to a bar (tests/test_every_model.py runs it shrunk).
"""
from configs import shapes_seg


def get_config():
    config = shapes_seg.get_config()
    config.model.name = "deeplabv3_v2"
    config.model.options = {"zero_init_residual": True, "output_stride": 8}
    return config


finalize = shapes_seg.finalize
