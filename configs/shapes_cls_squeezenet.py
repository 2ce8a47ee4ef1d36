"""Quick classification recipe on the built-in Shapes dataset for SqueezeNet 1.0 and 1.1: what
`python train.py --model=squeezenet1_1` (or squeezenet1_0) runs.

    python train.py --model=squeezenet1_1           # about 3 CPU minutes (1.0: about 6)

Source: shapes_cls.py with what a network without batch norm needs. SqueezeNet has no batch
norm to tame SGD's high rate (0.2 Nesterov sent its ReLU classifier, conv10 + ReLU, dead in
the first steps; SGD at 0.01 and 0.05 too), so it trains with Adam at 1e-3 after a one-epoch
warm-up, as its plain-convolution peers do (3e-3 killed every ReLU), for 10 epochs: a fresh
SqueezeNet sits near chance for one or two epochs while its body finds the shapes (6
epochs: 67.7%, seed 0). Dropout 0.1 as shapes_cls.py (the paper's 0.5 is for ImageNet's
1.3M images). It relies on the builder's initialisation (models/squeezenet.py: He-uniform
convolutions, the class map's bias at 1): with Keras's default Glorot and torchvision's
zero-bias class map every run stayed at the loss of ln 6 = 1.7918, the class-map ReLU dead.
Expected: squeezenet1_1 94.7, 95.3 and 98.8% validation top-1 (seeds 0, 1, 2) after 930 steps
(10 epochs of 93 batches of 64), 160-164 user + 11-12 system CPU seconds; squeezenet1_0
94.3% (seed 0), 325 + 13 CPU seconds. Measured 2026-12-05 on 2 shared cores of an AMD EPYC
with AVX-512 (VNNI, BF16). No test trains it to a bar (tests/test_every_model.py runs it
shrunk); the per-epoch figures are in benchmarks/RESULTS.md.
"""
from configs import shapes_cls


def get_config():
    config = shapes_cls.get_config()
    config.model.name = "squeezenet1_1"
    config.train.epochs = 10
    config.optimizer.update(name="adam", learning_rate=1e-3, epsilon=1e-7)
    config.schedule.warmup_epochs = 1.0
    return config
