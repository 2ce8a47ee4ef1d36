"""MobileNetV3-Small 1.0 on ImageNet: TF Model Garden's TPU recipe.

    python train.py --model=v3_small --dataset=imagenet --data_dir=DIR
    python train.py --config=configs/mobilenet_v3_small_imagenet.py --batch_size=1024

Source: tensorflow/models, official/vision/configs/experiments/image_classification/
imagenet_mobilenetv3small_tpu.yaml (the version at commit 0225b135) on top of the
`mobilenet_imagenet` experiment in official/vision/configs/image_classification.py (shared
values: common.model_garden_mobilenet). It changes: RMSprop at 0.01 for batch 4096 (an earlier
version of the yaml, commit 0de1746a, had 0.426 = 0.02 * 4096 / 192 and the same 67.5%),
x0.99 every 3 epochs, 1000 epochs, weight EMA 0.9999.
Expected: 67.5% top-1, 87.6% top-5 (the yaml's header), 224x224, central 87.5% crop.
Time: not given by the source; 1000 epochs at global batch 4096 in bfloat16 on a TPU slice.
Not applied: the warm-up starts at 0.001 there (0 here); their EMA also averages the batch
norm statistics (trainable_weights_only: false; ours averages trainable weights); their
1001-class head.
"""
from configs import common


def get_config():
    config = common.model_garden_mobilenet(
        common.base(model="mobilenet_v3_small", dataset="imagenet"))
    config.train.update(epochs=1000, ema_decay=0.9999)
    config.optimizer.learning_rate = 0.01
    common.exponential_decay(config, decay_rate=0.99, decay_epochs=3, warmup_epochs=5)
    return config
