"""Quick classification recipe on the built-in Shapes dataset: what `python train.py` runs,
and the Shapes recipe of V1 and V3-Large.

    python train.py                          # MobileNetV3-Small, a few minutes on 2 CPU cores

Source: tuned on this repository's Shapes generator (mobilenet_tf/data/shapes.py), 6 classes
(the largest shape), 6,000 training and 600 validation images. SGD with Nesterov momentum at
a high learning rate, label smoothing and a fast batch-norm momentum learn it in a few
hundred steps; Adam at 3e-3 needed three times as many, and at 48x48 no optimizer got past
70% in this budget (the shapes' outlines need the pixels). 72 px rather than 64: at 64 px
this recipe gave 92.7, 90.3 and 91.2% (seeds 0-2) on an AVX-512 EPYC, too close to the
test's 90% bar.
Expected: 98.7, 95.2 and 98.3% validation top-1 (seeds 0, 1, 2) for MobileNetV3-Small after
the 372 steps (4 epochs of 93 batches of 64), measured 2026-12-05 on 2 shared cores of an
AMD EPYC with AVX-512 (VNNI, BF16): 95-100 user + 11 system CPU seconds. Tuning history:
benchmarks/RESULTS.md. MobileNetV2 stays near chance on this recipe for the first 280 steps;
`--model=v2` picks configs/shapes_cls_v2.py, which it learns.
"""
from configs import common


def get_config():
    config = common.base(model="mobilenet_v3_small", dataset="shapes")
    config.model.update(bn_momentum=0.9, dropout=0.1)
    config.dataset.update(image_size=72, eval_split="validation", shuffle_buffer=6000)
    config.train.update(batch_size=64, epochs=4, label_smoothing=0.1,
                        checkpoint_every_steps=200, log_every_steps=20)
    config.optimizer.update(name="sgd", learning_rate=0.2, momentum=0.9, nesterov=True)
    config.schedule.update(name="cosine", warmup_epochs=0.5)
    return config
