"""MobileNetV4-Conv-L on ImageNet: TF Model Garden's recipe (82.9% top-1).

    python train.py --model=v4_conv_large --dataset=imagenet --data_dir=DIR

Source: tensorflow/models, official/vision/configs/experiments/image_classification/
imagenet_mobilenetv4_conv_large_tpu.yaml (header: "Top-1 Acc: 82.92% @ 500 epoches"; the
paper's Table 5: 82.9): 384x384, global batch 16384, AdamW (weight decay 0.2) at 0.004 with
cosine decay over 39,000 steps (500 epochs) after 1,560 warm-up steps, no L2, dropout 0.2,
batch norm momentum 0.997 and epsilon 1e-3, label smoothing 0.1, RandAugment magnitude 15,
MixUp 0.8 and CutMix 1.0, bfloat16 (common.model_garden_mobilenet_v4).
Expected: 82.9% top-1.
Time: not given; 500 epochs at batch 16384 on a TPU slice.
Not applied: stochastic depth 0.2; their MixUp/CutMix go to 20% of the batches (ours to
every batch, each batch one or the other).
"""
from configs import common


def get_config():
    config = common.model_garden_mobilenet_v4(
        common.base(model="mobilenet_v4_conv_large", dataset="imagenet"), image_size=384,
        batch_size=16384, train_steps=39_000, learning_rate=0.004, weight_decay=0.2,
        dropout=0.2, bn_momentum=0.997, bn_epsilon=1e-3, randaugment_magnitude=0.7)
    config.dataset.update(mixup_alpha=0.8, cutmix_alpha=1.0)
    return config
