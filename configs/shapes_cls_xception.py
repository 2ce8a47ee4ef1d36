"""Quick classification recipe on the built-in Shapes dataset for Xception: what
`python train.py --model=xception` runs (its registry row's Shapes recipe).

    python train.py --model=xception            # about 8 CPU minutes

Source: shapes_cls.py (SGD with Nesterov momentum, label smoothing 0.1, a fast batch-norm
momentum, 72x72 Shapes images), cut to what a 22.9M-parameter model affords on a CPU.
Xception needs inputs of at least 71 px (its unpadded stem and four stride-2 stages), so the
shared recipe's size is its floor. A step of 32 at 72 px takes about 1.4 s here (V3-Small's
step of 64: about 0.2 s), so this recipe trains 300 steps of 32 (1.6 epochs) at half the
shared learning rate (0.1).
Expected: 88.5% validation top-1 (69.3% after the first epoch) after the 300 steps,
seed 0 only (no test trains Xception to a bar), measured 2026-12-05 on 2 shared CPU cores of
an AMD EPYC with AVX-512 (VNNI, BF16): 488 user + 14 system CPU seconds, 7.6 minutes wall.
"""
from configs import shapes_cls


def get_config():
    config = shapes_cls.get_config()
    config.model.name = "xception"
    config.dataset.image_size = 72
    config.train.update(batch_size=32, steps=300, checkpoint_every_steps=300)
    config.optimizer.learning_rate = 0.1
    return config
