"""Your own images: the recipe for --dataset=folder, tfds:NAME and any (model, dataset) pair
without a recipe of its own. It fine-tunes ImageNet weights when given --init_from, and
otherwise trains from scratch with settings of its own (finalize() below).

    python train.py --dataset=folder --data_dir=DIR --init_from=keras_applications
    python train.py --model=v2 --dataset=tfds:oxford_flowers102 --init_from=keras_applications
    python train.py --dataset=folder --data_dir=DIR --init_from=keras_applications \\
        --freeze_backbone   # train only the classifier first, as Keras's guide does
    python train.py --dataset=folder --data_dir=DIR       # from scratch, sizes from the data

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
digits written as 32x32 PNGs (10 classes, the hash split's 181 for validation), with the
settings derived from them (32 px, batch 64, 750 steps, 37 of warm-up): 95.6% validation
top-1 (seed 0, 2026-12-05, AMD EPYC with AVX-512: 101 + 11 CPU seconds). With the size given
by hand and one epoch (25 steps) of warm-up, 2026-11:
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
    # 0: derived from your data in finalize() (unless given on the command line).
    config.dataset.update(image_size=0)
    config.train.update(batch_size=0, epochs=0, steps=0, label_smoothing=0.1,
                        weight_decay=1e-4, regularize_depthwise=False, init_from="")
    config.optimizer.update(name="sgd", learning_rate=0.01, base_batch_size=64, momentum=0.9)
    config.schedule.update(name="cosine", warmup_epochs=1.0, min_learning_rate=0.0)
    return config


# The run's length: fine-tuning 20 epochs (the transfer-learning guides), from scratch 30,
# and at least as many steps as random weights need however few the images (the digits
# below: 25 steps an epoch; configs/shapes_cls.py learns Shapes in 372).
FINETUNE = dict(epochs=20, min_steps=300)
SCRATCH = dict(epochs=30, min_steps=500)
BATCH_SIZE = 64            # the batch the learning rates are for; halved for tiny datasets
DEFAULT_SIZE = 224         # ImageNet's, for a dataset without a survey (imagenet)


def image_size(survey, pretrained):
    """The input side for a data.Survey: the typical image's (the square root of the median
    height times the median width) to the nearest multiple of 32, at most 224 (what the
    ImageNet weights were trained at, and enough for a phone-sized model) and at least 96
    with --init_from (the smallest size keras.applications has MobileNet weights for), 32
    from scratch. Why: upscaling a 32-pixel digit to 224 costs 49 times the computation and
    adds no information; a photo gets the size the weights know."""
    height, width = survey.typical_size()
    return common.multiple_of((height * width) ** 0.5, 32, 96 if pretrained else 32,
                              DEFAULT_SIZE)


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
    - 30 epochs, not 20, and at least 500 steps: a small dataset gives few steps per epoch,
      and random weights need several hundred (the digits: 25 steps per epoch, 750 in all).
    Derived from the data (mobilenet_tf.data.survey: the folder's file headers, no image
    decoded) unless given: the input size (image_size()), the batch (64, halved until an
    epoch has 4 steps), the length in steps, a warm-up of 5% of them, validation and
    checkpoints about 10 times a run (configs/common.py own_schedule, as the detection and
    segmentation recipes for your own data do). tfds:NAME is surveyed from its dataset_info
    and image headers; a dataset without a survey (imagenet) keeps 224 px and batch 64.
    """
    pretrained = bool(config.train.init_from)
    settings = FINETUNE if pretrained else SCRATCH
    survey = common.own_survey(config, config.dataset.train_split)
    if survey is None:   # no survey (imagenet): ImageNet's size and the recipe's epochs
        config.dataset.image_size = config.dataset.image_size or DEFAULT_SIZE
        common.own_without_survey(config, epochs=settings["epochs"], largest_batch=BATCH_SIZE)
    else:
        config.dataset.image_size = config.dataset.image_size or image_size(survey, pretrained)
        common.own_schedule(config, survey.num_examples, epochs=settings["epochs"],
                            min_steps=settings["min_steps"], largest_batch=BATCH_SIZE)
    config.dataset.crop_area_range = crop_area_range(config.dataset.image_size)
    if not pretrained:
        config.model.bn_momentum = 0.9
        config.optimizer.update(learning_rate=0.1, nesterov=True)
    return config


def describe(config):
    """The log line of what the run derived from your folder (None without a survey)."""
    survey = common.own_survey(config, config.dataset.train_split)
    if config.dataset.name == "shapes" or survey is None:
        return None
    size, (low, high) = config.dataset.image_size, config.dataset.crop_area_range
    return common.own_data_line(config, survey, f"input {size}x{size}, training crop "
                                f"{low:g}-{high:g} of the area")
