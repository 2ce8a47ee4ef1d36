"""Quick classification recipe on the built-in Shapes dataset for SqueezeNet 1.0 and 1.1: what
`python train.py --model=squeezenet1_1` (or squeezenet1_0) runs.

    python train.py --model=squeezenet1_1           # about 2 CPU minutes

Source: shapes_cls.py with what a network without batch norm needs. SqueezeNet has no batch
norm to tame SGD's high rate (0.2 Nesterov sent its ReLU classifier, conv10 + ReLU, dead in
the first steps), so it trains with Adam at 1e-3 after a one-epoch warm-up, as its
plain-convolution peers do, and for 6 epochs (a step costs a third of V3-Small's at 64 px).
Dropout 0.1 as shapes_cls.py (the paper's 0.5 is for ImageNet's 1.3M images).
Expected: validation top-1 not measured yet (written 2026-12-05 without a full run; the
test suite runs it shrunk, tests/test_every_model.py). Measure it before relying on it.
"""
from configs import shapes_cls


def get_config():
    config = shapes_cls.get_config()
    config.model.name = "squeezenet1_1"
    config.train.epochs = 10
    config.optimizer.update(name="adam", learning_rate=1e-3, epsilon=1e-7)
    config.schedule.warmup_epochs = 1.0
    return config
