"""MobileNetV2 1.0 on ImageNet: TF Model Garden's TPU recipe.

    python train.py --model=v2 --dataset=imagenet --data_dir=DIR
    python train.py --config=configs/mobilenet_v2_imagenet.py --batch_size=1024   # lr scales

Source: tensorflow/models, official/vision/configs/experiments/image_classification/
imagenet_mobilenetv2_tpu.yaml on top of the `mobilenet_imagenet` experiment in
official/vision/configs/image_classification.py (shared values: common.model_garden_mobilenet).
This file differs from the experiment only in the decay: x0.96 every 2.5 epochs.
Expected: 72.72% top-1, 91.05% top-5 (the yaml's header), 224x224, central 87.5% crop.
Time: not given by the source; 500 epochs at global batch 4096 in bfloat16 on a TPU slice.
Not applied: their 1001-class head (a background class); nothing else.
"""
from configs import common


def get_config():
    config = common.model_garden_mobilenet(common.base(model="mobilenet_v2", dataset="imagenet"))
    config.schedule.decay_rate = 0.96
    return config
