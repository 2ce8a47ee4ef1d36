"""Quick classification recipe on the built-in Shapes dataset for MobileNetV1: what
`python train.py --model=v1` runs (its registry row's Shapes recipe).

    python train.py --model=v1                      # about 2.5 CPU minutes

Source: shapes_cls.py (SGD with Nesterov momentum at 0.2, label smoothing 0.1, a fast
batch-norm momentum, 72x72 images) at width 0.5 for 6 epochs. V1's plain stack of
depthwise-separable convolutions (no residuals) starts slowly on it, as V2 does: at width 1.0
and shapes_cls.py's 4 epochs it ended at 82.7%, still climbing (29, 40, 70, 83% by epoch; 238
user CPU seconds); at width 0.5 a step costs a third as much, so two more epochs still cost
less.
Expected: 98.2 and 95.3% validation top-1 (seeds 0, 1) after the 558 steps (6 epochs of 93
batches of 64), 138-141 user + 12-14 system CPU seconds, measured 2026-12-05 on 2 shared
cores of an AMD EPYC with AVX-512 (VNNI, BF16). No test trains it to a bar
(tests/test_every_model.py runs it shrunk).
"""
from configs import shapes_cls


def get_config():
    config = shapes_cls.get_config()
    config.model.update(name="mobilenet_v1", width=0.5)
    config.train.epochs = 6
    return config
