"""MobileNetV3-Large 1.0 on ImageNet: TF Model Garden's TPU recipe (AdamW, not RMSprop).

    python train.py --model=v3_large --dataset=imagenet --data_dir=DIR
    python train.py --config=configs/mobilenet_v3_large_imagenet.py --batch_size=1024

Source: tensorflow/models, official/vision/configs/experiments/image_classification/
imagenet_mobilenetv3large_tpu.yaml on top of the `mobilenet_imagenet` experiment in
official/vision/configs/image_classification.py (shared values: common.model_garden_mobilenet).
The yaml replaces the experiment's optimizer: AdamW (beta 0.9 / 0.999, epsilon 1e-7,
decoupled weight decay 0.1, times the learning rate as Keras's AdamW does) at 0.004 for batch
4096, cosine decay to 0 over 700 epochs after the experiment's 5 warm-up epochs, and no L2.
Expected: about 75.7% top-1 (the yaml's header), 224x224, central 87.5% crop.
Time: not given by the source; 700 epochs at global batch 4096 in bfloat16 on a TPU slice.
Not applied: AutoAugment policy v0 (cutout 100, translate 250), which the yaml trains with
and we do not have (RandAugment, dataset.randaugment_ops, is the nearest; expect less than
75.7% without it); their weight decay also covers biases (only batch norm is excluded; ours
excludes biases too); their random-uniform classifier initialiser; their 1001-class head.
"""
from configs import common


def get_config():
    config = common.model_garden_mobilenet(
        common.base(model="mobilenet_v3_large", dataset="imagenet"))
    config.train.update(epochs=700, weight_decay=0.0)
    config.optimizer.update(name="adamw", learning_rate=0.004, base_batch_size=4096,
                            beta_1=0.9, beta_2=0.999, epsilon=1e-7, weight_decay=0.1)
    config.schedule.update(name="cosine", warmup_epochs=5, min_learning_rate=0.0)
    return config
