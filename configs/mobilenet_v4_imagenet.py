"""MobileNetV4 on ImageNet: TF Model Garden's recipes, one row per model, picked by --model.

    python train.py --model=v4_conv_small --dataset=imagenet --data_dir=DIR
    python train.py --model=v4_hybrid_medium --dataset=imagenet --data_dir=DIR

Source: tensorflow/models, official/vision/configs/experiments/image_classification/
imagenet_mobilenetv4_{conv_small,conv_medium,conv_large,hybrid_medium,hybrid_large}_tpu.yaml,
the recipes of the paper's Table 5 (arXiv:2404.10518), whose headers give the expected top-1
below. Shared by all five (common.model_garden_mobilenet_v4): AdamW with decoupled weight
decay and no L2, 1,560 warm-up steps then cosine decay, label smoothing 0.1, RandAugment;
per model (the table): resolution, global batch, steps, learning rate, weight decay,
dropout, batch-norm momentum and epsilon, RandAugment magnitude, MixUp/CutMix, EMA, L2, and
stochastic depth (model.options.drop_path_rate and drop_path_schedule: their
stochastic_depth_drop_rate, "linear" where their flat_stochastic_depth_drop_rate is false,
counted over the blocks as their MobileNet backbone does; mobilenet_v4.build_mobilenet_v4).

| model | yaml top-1 | epochs | stochastic depth | notes |
|---|---:|---:|---|---|
| Conv-S | 73.8 | 9,600 | none | AdamW beta_1 0.6, epsilon 1e-6; EMA 0.9999; L2 1e-5; batch 4096 |
| Conv-M | 79.9 | 500 | 0.075 linear | batch 4096 |
| Conv-L | 82.92 | 500 | 0.2 on every block | MixUp 0.8 / CutMix 1.0; batch 16384 |
| Hybrid-M | 80.7 | 500 | 0.075 linear | batch 16384 |
| Hybrid-L | 83.7 (paper 83.4) | 500 | 0.35 linear | MixUp 0.8 / CutMix 1.0; cosine to 1e-5; batch 16384 |

Expected: the yaml top-1 above. Time: not given; TPU slices, bfloat16 (Conv-S float32).
Not applied: RandAugment's per-image probability (0.5-0.7) and their translate/cutout
constants; their MixUp/CutMix go to 20-30% of the batches (ours to every batch); their EMA
starts at step 1,560 (ours has TF's warm-up of the decay); their 1001-class heads. Their
Mobile MQA blocks take the full stochastic-depth rate whatever the schedule (their backbone
passes the MQA block the unscheduled rate); ours follow the schedule like every other block.
"""
import collections

from configs import common

Recipe = collections.namedtuple(
    "Recipe", "image_size batch_size train_steps learning_rate weight_decay dropout "
              "bn_momentum bn_epsilon randaugment_magnitude extra")
#                                          px   batch  steps      lr     wd    drop  bn mom bn eps RA
RECIPES = {
    "mobilenet_v4_conv_small": Recipe(224, 4096, 3_002_368, 0.002, 0.01, 0.3, 0.95, 1e-6, 0.5,
                                      dict(beta_1=0.6, epsilon=1e-6, l2=1e-5, ema=0.9999)),
    "mobilenet_v4_conv_medium": Recipe(256, 4096, 156_000, 0.004, 0.1, 0.2, 0.997, 1e-3, 0.7,
                                       dict(drop_path=0.075)),
    "mobilenet_v4_conv_large": Recipe(384, 16384, 39_000, 0.004, 0.2, 0.2, 0.997, 1e-3, 0.7,
                                      dict(mixup=0.8, cutmix=1.0, drop_path=0.2,
                                           drop_path_schedule="constant")),
    "mobilenet_v4_hybrid_medium": Recipe(256, 16384, 39_000, 0.016, 0.1, 0.2, 0.997, 1e-3,
                                         0.7, dict(drop_path=0.075)),
    "mobilenet_v4_hybrid_large": Recipe(384, 16384, 39_000, 0.01, 0.2, 0.2, 0.997, 1e-3, 0.7,
                                        dict(mixup=0.8, cutmix=1.0, min_learning_rate=1e-5,
                                             drop_path=0.35)),
}


def apply(config, recipe):
    """Sets every setting of one RECIPES row on config."""
    extra = recipe.extra
    common.model_garden_mobilenet_v4(
        config, image_size=recipe.image_size, batch_size=recipe.batch_size,
        train_steps=recipe.train_steps, learning_rate=recipe.learning_rate,
        weight_decay=recipe.weight_decay, dropout=recipe.dropout,
        bn_momentum=recipe.bn_momentum, bn_epsilon=recipe.bn_epsilon,
        randaugment_magnitude=recipe.randaugment_magnitude,
        beta_1=extra.get("beta_1", 0.9), epsilon=extra.get("epsilon", 1e-7))
    config.train.update(weight_decay=extra.get("l2", 0.0), ema_decay=extra.get("ema", 0.0))
    config.dataset.update(mixup_alpha=extra.get("mixup", 0.0),
                          cutmix_alpha=extra.get("cutmix", 0.0))
    config.schedule.min_learning_rate = extra.get("min_learning_rate", 0.0)
    config.model.options.update(
        drop_path_rate=extra.get("drop_path", 0.0),
        drop_path_schedule=extra.get("drop_path_schedule", "linear"))
    return config


def get_config():
    config = common.base(model="mobilenet_v4_conv_small", dataset="imagenet")
    return apply(config, RECIPES["mobilenet_v4_conv_small"])


def finalize(config):
    """The row of --model (after the flags; they and --config.* overrides apply again after
    this, so they still win). Another model than a MobileNetV4 is a user error."""
    from mobilenet_tf import UserError   # noqa: PLC0415 (recipes import the package lazily)
    if config.model.name not in RECIPES:
        raise UserError(f"configs/mobilenet_v4_imagenet.py is for {', '.join(RECIPES)}; "
                        f"--model={config.model.name} has recipes of its own")
    return apply(config, RECIPES[config.model.name])
