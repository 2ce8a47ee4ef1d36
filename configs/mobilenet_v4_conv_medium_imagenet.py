"""MobileNetV4-Conv-M on ImageNet: TF Model Garden's recipe (79.9% top-1).

    python train.py --model=v4_conv_medium --dataset=imagenet --data_dir=DIR

Source: tensorflow/models, official/vision/configs/experiments/image_classification/
imagenet_mobilenetv4_conv_medium_tpu.yaml (header: "Top-1 Acc: 79.9% @ 500 epochs", the
paper's Table 5 figure): 256x256, global batch 4096, AdamW (weight decay 0.1) at 0.004 with
cosine decay over 156,000 steps (500 epochs) after 1,560 warm-up steps, no L2, dropout 0.2,
batch norm momentum 0.997 and epsilon 1e-3, label smoothing 0.1, RandAugment magnitude 15
applied with probability 0.7, bfloat16 (common.model_garden_mobilenet_v4).
Expected: 79.9% top-1.
Time: not given; 500 epochs at batch 4096 on a TPU slice.
Not applied: stochastic depth 0.075 (we have none), RandAugment's per-image probability.
"""
from configs import common


def get_config():
    return common.model_garden_mobilenet_v4(
        common.base(model="mobilenet_v4_conv_medium", dataset="imagenet"), image_size=256,
        batch_size=4096, train_steps=156_000, learning_rate=0.004, weight_decay=0.1,
        dropout=0.2, bn_momentum=0.997, bn_epsilon=1e-3, randaugment_magnitude=0.7)
