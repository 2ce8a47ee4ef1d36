"""SqueezeNet 1.0 / 1.1 on ImageNet: the published Caffe solver.

    python train.py --model=squeezenet1_1 --dataset=imagenet --data_dir=DIR
    python train.py --model=squeezenet1_0 --dataset=imagenet --data_dir=DIR

Source: DeepScale/SqueezeNet, SqueezeNet_v1.0/solver.prototxt and train_val.prototxt: SGD
momentum 0.9, base_lr 0.04 with lr_policy "poly", power 1 (a linear decay to 0: our "linear"),
max_iter 170000 at batch 32 x iter_size 16 = 512 (68 epochs of 1,281,167 images), Caffe
weight_decay 0.0002 (added to the gradient: our TF-slim scale; biases have decay_mult 0, and
we do not decay biases either), dropout 0.5 before conv10, 227x227 crops of 256x256 images
(evaluation: the central 227/256). The README says v1.1 matches v1.0's accuracy with 2.4x less
computation; we train both with this solver. The model comes from --model (default v1.1).
Expected: 57.5% top-1, 80.3% top-5 (arXiv:1602.07360, Table 2, v1.0).
Time: not given by the source.
Not applied: Caffe's training crop (a random 227 crop of the whole 256x256 image, no flip;
ours: 8-100% area crops and flips); bias learning rate x2 (lr_mult 2).
"""
from configs import common


def get_config():
    config = common.base(model="squeezenet1_1", dataset="imagenet")
    config = common.imagenet(config, image_size=227)
    config.model.dropout = 0.5
    config.dataset.crop_fraction = 227 / 256
    config.train.update(batch_size=512, epochs=68, weight_decay=2e-4)
    config.optimizer.update(name="sgd", learning_rate=0.04, base_batch_size=512, momentum=0.9)
    config.schedule.update(name="linear", warmup_epochs=0.0, min_learning_rate=0.0)
    return config
