"""MobileNetV4-Hybrid-M on ImageNet: TF Model Garden's recipe (80.7% top-1).

    python train.py --model=v4_hybrid_medium --dataset=imagenet --data_dir=DIR

Source: tensorflow/models, official/vision/configs/experiments/image_classification/
imagenet_mobilenetv4_hybrid_medium_tpu.yaml (header: "Top-1 Acc: 80.7% @ 500 epochs", the
paper's Table 5 figure): 256x256, global batch 16384, AdamW (weight decay 0.1) at 0.016 with
cosine decay over 39,000 steps (500 epochs) after 1,560 warm-up steps, no L2, dropout 0.2,
batch norm momentum 0.997 (epsilon: the experiment's 1e-3), label smoothing 0.1,
RandAugment magnitude 15 applied with probability 0.7, bfloat16
(common.model_garden_mobilenet_v4).
Expected: 80.7% top-1.
Time: not given; 500 epochs at batch 16384 on a TPU slice.
Not applied: stochastic depth 0.075, RandAugment's per-image probability.
"""
from configs import common


def get_config():
    return common.model_garden_mobilenet_v4(
        common.base(model="mobilenet_v4_hybrid_medium", dataset="imagenet"), image_size=256,
        batch_size=16384, train_steps=39_000, learning_rate=0.016, weight_decay=0.1,
        dropout=0.2, bn_momentum=0.997, bn_epsilon=1e-3, randaugment_magnitude=0.7)
