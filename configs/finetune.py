"""Your own images: the recipe for --dataset=folder, tfds:NAME and any (model, dataset) pair
without a recipe of its own. It fine-tunes ImageNet weights when given --init_from, and
otherwise trains from scratch with settings of its own (finalize() below).

    python train.py --dataset=folder --data_dir=DIR --init_from=keras_applications
    python train.py --model=v2 --dataset=tfds:oxford_flowers102 --init_from=keras_applications
    python train.py --dataset=folder --data_dir=DIR --init_from=keras_applications \\
        --freeze_backbone   # train only the classifier first, as Keras's guide does
    python train.py --dataset=folder --data_dir=DIR --config.dataset.image_size=32   # from scratch

Source: for fine-tuning (get_config), torchvision's transfer-learning tutorial ("Finetuning the
ConvNet": SGD, momentum 0.9, lr 0.001 at batch 4, i.e. 0.016 at 64 scaled linearly; we take
0.01 at 64, scaled from there) and Keras's transfer-learning guide
(keras.io/guides/transfer_learning: start from ImageNet weights, a new classifier, optionally
the backbone frozen first); a cosine decay after one warm-up epoch, label smoothing 0.1 and
weight decay 1e-4 (torchvision's classification reference default) for 20 epochs at 224x224.
Depthwise kernels are not decayed, as the MobileNet papers do.
From scratch (no --init_from; finalize): this repository's, like configs/shapes_cls.py's
(SGD with Nesterov momentum, batch-norm momentum 0.9), measured on the digits below; see
finalize() for each reason.
Expected top-1: depends on the dataset; fine-tuned ImageNet models usually beat training
from scratch by a wide margin on a few thousand photos. From scratch, scikit-learn's 1,797
digits written as 32x32 PNGs (10 classes, the hash split's 181 for validation):
96.7% and 97.2% validation top-1 (seeds 0, 1; training accuracy 100%) after 750 steps, where
the fine-tuning settings got 82.9% and 78.5% (training accuracy 49-50%, 500 steps); a
[0.5, 1] crop instead of the whole image got 97.8% (seed 0), and the same images at
image_size=64 98.9% (seed 0, 180 CPU seconds). Measured 2026-11 on 2 shared
CPU cores.
Time: minutes to an hour on one GPU for a few thousand images; the digits from scratch,
about 120 CPU seconds.
"""
from configs import common


def get_config():
    config = common.base(model="mobilenet_v3_small", dataset="folder")
    config.dataset.update(image_size=224)
    config.train.update(batch_size=64, epochs=20, label_smoothing=0.1, weight_decay=1e-4,
                        regularize_depthwise=False, init_from="")
    config.optimizer.update(name="sgd", learning_rate=0.01, base_batch_size=64, momentum=0.9)
    config.schedule.update(name="cosine", warmup_epochs=1.0, min_learning_rate=0.0)
    return config


def crop_area_range(image_size):
    """The training crop's area range for an image size: ImageNet's 8% to 100% at 224 and
    above, and a larger minimum below, so the smallest crop still has as many pixels as
    ImageNet's smallest at 224 (8% of 224^2, about 63x63), up to the whole image.

    Why: small images (digits, icons, thumbnails) usually hold one centred object that fills
    the frame, and an 8% crop of a 32-pixel image is a 9x9 patch that shows none of it."""
    return [round(min(1.0, max(0.08, 0.08 * (224 / image_size) ** 2)), 3), 1.0]


def finalize(config):
    """The settings that depend on flags, which apply after get_config(): called by
    mobilenet_tf.cli.finalize_recipe, then the flags and overrides apply again, so an explicit
    --epochs, --config.optimizer.learning_rate, ... still wins. Both show in config.json.

    Every run: the crop's area range for dataset.image_size (crop_area_range()).
    Without --init_from, from scratch, because the fine-tuning settings are for weights that
    already see (on scikit-learn's digits at 32 px they left training accuracy at 49%):
    - learning rate 0.1 at batch 64 with Nesterov momentum, not 0.01: random weights must
      move far, and a fine-tuning rate moves them too slowly (configs/shapes_cls.py trains
      from scratch at 0.2 at batch 64);
    - batch-norm momentum 0.9, not 0.99: the weights change fast, and moving statistics
      averaged over ~100 steps lag them, so validation runs on stale statistics (0.9 took
      a 3-class folder from chance to 94%);
    - 30 epochs, not 20: a small dataset gives few steps per epoch, and random weights need
      several hundred (the digits: 25 steps per epoch, 750 in all).
    """
    config.dataset.crop_area_range = crop_area_range(config.dataset.image_size)
    if not config.train.init_from:
        config.model.bn_momentum = 0.9
        config.train.epochs = 30
        config.optimizer.update(learning_rate=0.1, nesterov=True)
    return config
