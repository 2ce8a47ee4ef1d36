"""MobileNetV4-Conv-S on ImageNet: TF Model Garden's recipe (73.8% top-1).

    python train.py --model=v4_conv_small --dataset=imagenet --data_dir=DIR

Source: tensorflow/models, official/vision/configs/experiments/image_classification/
imagenet_mobilenetv4_conv_small_tpu.yaml, the recipe of the paper's 73.8% (arXiv:2404.10518,
Table 5; the yaml's header: "Top-1 Acc: 73.8% @ ~9623 epochs"): 224x224, global batch 4096,
AdamW (beta_1 0.6, epsilon 1e-6, weight decay 0.01) at 0.002 with cosine decay over 3,002,368
steps (9,600 epochs) after 1,560 warm-up steps, EMA 0.9999, L2 1e-5 (TF-slim scale, ours),
dropout 0.3, batch norm momentum 0.95 and epsilon 1e-6, label smoothing 0.1, RandAugment
magnitude 9 applied with probability 0.5 (common.model_garden_mobilenet_v4).
Expected: 73.8% top-1.
Time: not given; 9,600 epochs at batch 4096 on a TPU slice.
Not applied: RandAugment's per-image probability 0.5 and their translate/cutout constants;
their EMA starts at step 1,560 (ours has TF's warm-up of the decay from the start); their
1001-class head.
"""
from configs import common


def get_config():
    config = common.model_garden_mobilenet_v4(
        common.base(model="mobilenet_v4_conv_small", dataset="imagenet"), image_size=224,
        batch_size=4096, train_steps=3_002_368, learning_rate=0.002, weight_decay=0.01,
        dropout=0.3, bn_momentum=0.95, bn_epsilon=1e-6, randaugment_magnitude=0.5,
        beta_1=0.6, epsilon=1e-6)
    config.train.update(weight_decay=1e-5, ema_decay=0.9999)
    return config
