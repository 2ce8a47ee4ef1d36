"""Quick classification recipe on the built-in Shapes dataset for Xception: what
`python train.py --model=xception` runs.

    python train.py --model=xception                 # about 10 CPU minutes

Source: shapes_cls.py at 72 px, since Xception needs at least 71x71 (two unpadded 3x3
convolutions and four stride-2 stages; 64 px, the other classifiers' size, is refused).
Xception has 21M parameters and, at 72 px, about 20 times V3-Small's multiply-adds per
image, so the run is two epochs of 32 images at half the learning rate (the same rate per
image as shapes_cls.py's 0.2 at 64 per batch would be 0.1).
Expected: validation top-1 not measured yet (written 2026-12-05 without a full run; the
test suite runs it shrunk, tests/test_every_model.py). Measure it before relying on it.
"""
from configs import shapes_cls


def get_config():
    config = shapes_cls.get_config()
    config.model.name = "xception"
    config.dataset.image_size = 72
    config.train.update(batch_size=32, epochs=2)
    config.optimizer.learning_rate = 0.1
    return config
