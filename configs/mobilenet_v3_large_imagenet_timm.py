"""MobileNetV3-Large 1.0 on ImageNet: timm's recipe for mobilenetv3_large_100 (75.77%).

    python train.py --config=configs/mobilenet_v3_large_imagenet_timm.py --data_dir=DIR

Source: huggingface/pytorch-image-models, the training command documented under
"MobileNetV3-Large-100 - 75.766 top-1" in docs/training_hparam_examples.md
(hfdocs/source/training_hparam_examples.mdx in newer trees):
`distributed_train.sh 2 ... -b 512`, i.e. 2 GPUs x 512 = global batch 1024; RMSpropTF (TF
semantics, as ours) with epsilon 0.001 and timm's momentum 0.9; lr 0.064 for that batch
(train.py did no automatic scaling then); step decay x0.973 every 2.4 epochs; 600 epochs;
warm-up from 1e-6 over train.py's default 3 epochs; weight decay 1e-5 added to the gradient
(our TF-slim scale; timm skips biases and batch norm, as we do, and decays depthwise
kernels); dropout 0.2; drop-connect 0.2 (stochastic depth, model.options.drop_path_rate; timm
gives block i of its 16 (the 15 bnecks, then the 1x1 conv to 960) 0.2 * i / 16, as ours
does); EMA 0.9999; label smoothing 0.1 (train.py's default); RandAugment rand-m9-mstd0.5; AMP.
PyTorch batch norm: momentum 0.1 (Keras 0.9), epsilon 1e-5. Image 224, bilinear, central 87.5%
crop (the model's default config).
RandAugment mapping: timm's m9 is 9/10 of each operation's full strength (rotate 27 degrees,
translate 0.45 * 0.9 = 40% of the side, shear 0.27, colour/contrast/brightness/sharpness
factor 0.1 + 1.8 * 0.9 = 1.72), 2 operations each applied with probability 1/2. Keras's
RandAugment draws each operation's strength uniformly in [0, factor], where factor is the
largest translation as a fraction of the side and the largest rotation as a fraction of a
full turn. We match timm's translation: factor 0.4 (rotation then reaches 144 degrees, more
than timm's; the colour operations are scaled differently and cannot be matched one to one).
Taking 9/10 literally (0.9) would rotate up to 324 degrees and move images 90% out of frame.
Expected: 75.77% top-1 (timm trained 75.766).
Time: not given; 2 GPUs with mixed precision.
Not applied: random erasing (reprob 0.2, pixel mode), learning-rate noise (--lr-noise 0.42
0.9), RandAugment's magnitude noise (mstd 0.5) and per-operation probability 1/2, random
train interpolation, timm's EMA has no warm-up of the decay (ours has TF's), --dist-bn reduce.
"""
from configs import common


def get_config():
    config = common.imagenet(common.base(model="mobilenet_v3_large", dataset="imagenet"))
    config.model.update(dropout=0.2, bn_momentum=0.9, bn_epsilon=1e-5)
    config.model.options.drop_path_rate = 0.2
    config.dataset.update(randaugment_ops=2, randaugment_magnitude=0.4)
    config.train.update(batch_size=1024, epochs=600, label_smoothing=0.1, weight_decay=1e-5,
                        ema_decay=0.9999)
    common.rmsprop(config, learning_rate=0.064, base_batch_size=1024, epsilon=1e-3)
    return common.exponential_decay(config, decay_rate=0.973, decay_epochs=2.4, warmup_epochs=3)
