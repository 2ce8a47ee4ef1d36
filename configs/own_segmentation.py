"""Your own masks (--dataset=masks, or any segmentation dataset without a recipe of its own):
LR-ASPP or Mobile DeepLabv3 with settings derived from your data, not from Cityscapes' or
VOC's size (finalize() below).

    python train.py --model=lraspp_v3_small --dataset=masks --data_dir=DIR
    python train.py ... --init_from=keras_applications     # the backbone from ImageNet
    python export.py --model_dir=runs/RUN --format=tflite_float32   # input: the eval frame

Why not the Cityscapes recipe: its 769 crops and 1024x2048 evaluation frame, on 128-pixel
images, padded every example to a frame 128 times its area (3 s a step on a CPU) and made the
exported TFLite input 1x1024x2048x3; configs/shapes_seg.py's settings reached mIoU 0.97 in 150
steps on the same data (issue 21's figures).
Source: from scratch (no --init_from), configs/shapes_seg.py's settings, measured on this
repository's Shapes (its docstring has the figures): width 0.5, Adam at 5e-3 for batch 16,
batch-norm momentum 0.9, no dropout, cosine decay after a short warm-up. With --init_from:
the published ImageNet weights are width 1.0; batch-norm momentum 0.99 (Keras's default),
Adam at 1e-3 (Keras's default rate, a fifth of the from-scratch one, so the pretrained
features are not overwritten early) and L2 4e-5 as the paper recipes; not measured here
(no ImageNet weights on this machine).
Derived from the data (finalize(), mobilenet_tf.data.survey: the image files' headers, no
decoding), each choice with its reason:
- training crop: the typical image's (median) shorter side, rounded down to a multiple of 32
  (the backbones' largest stride, so every feature map aligns) within [64, 512]: the crop
  then holds most of an image with no padding, and 512 bounds the memory (DeepLab crops 513
  on VOC); random scaling (0.5-2.0, DeepLab's) only for images larger than that largest
  crop (shapes_seg.py: a small image has little to spare);
- evaluation frame (dataset.eval_size, which export.py also takes as the exported input
  size): the validation split's largest height and width, each rounded up to a multiple of
  32, so every image fits unresized;
- batch: 16, halved until an epoch has at least 4 steps (common.own_batch_size);
- length: 30 epochs but at least 500 steps from scratch, 20 epochs and at least 300 steps
  with --init_from; warm-up 5% of the steps, cosine decay to the last step, validation and
  checkpoints about 10 times a run (common.own_schedule).
Your --batch_size, --epochs / --steps and --config.* overrides win over all of these.
Expected: on tests/test_own_data.py's fixture (150 training and 40 validation 64x64 PNGs
with grey class-id masks: background and one circle, square or triangle each, painted its
class's colour), the derived recipe as it stands (crop 64, evaluation frame 64x64, batch 16,
500 steps, warm-up 25) reaches validation mIoU 0.892, pixel accuracy 0.982 (seed 0; 85 user
+ 5 system CPU seconds, 2 minutes wall on 2 shared CPU cores, 2026-12-05); the test's
80-step run at width 0.35: mIoU 0.832 and 0.728 (seeds 0, 1), 20 CPU seconds. With
--init_from: not measured. Time: minutes on a CPU for a few hundred images.
"""
from configs import common

SCRATCH = dict(width=0.5, bn_momentum=0.9, learning_rate=5e-3, weight_decay=0.0,
               epochs=30, min_steps=500)
PRETRAINED = dict(width=1.0, bn_momentum=0.99, learning_rate=1e-3, weight_decay=4e-5,
                  epochs=20, min_steps=300)
BATCH_SIZE = 16          # the batch the learning rates are for
MIN_CROP, MAX_CROP = 64, 512
STRIDE = 32


def get_config():
    config = common.base(model="lraspp_v3_small", dataset="masks")
    config = common.segmentation(config, "masks", crop_size=512)
    config.model.dropout = 0.0
    # 0: derived from your data in finalize() (unless given on the command line).
    config.train.update(batch_size=0, epochs=0, steps=0, regularize_depthwise=False)
    config.optimizer.update(name="adam", learning_rate=5e-3, epsilon=1e-7)
    config.schedule.update(name="cosine", min_learning_rate=0.0)
    return config


def crop_size(survey):
    """The square training crop for a data.Survey of the training split."""
    return common.multiple_of(min(survey.typical_size()) // STRIDE * STRIDE, STRIDE,
                              MIN_CROP, MAX_CROP)


def eval_size(survey):
    """[height, width] that holds every image of a data.Survey of the evaluation split."""
    return [-(-side // STRIDE) * STRIDE for side in survey.largest_size()]


def derive(config, survey, eval_survey):
    """Sets every derived field from data.Surveys of the training and evaluation splits
    (None: a dataset without one; common.own_without_survey) and whether train.init_from is
    given."""
    settings = SCRATCH if not config.train.init_from else PRETRAINED
    config.model.update(width=settings["width"], bn_momentum=settings["bn_momentum"])
    config.optimizer.update(learning_rate=settings["learning_rate"],
                            base_batch_size=BATCH_SIZE)
    config.train.weight_decay = settings["weight_decay"]
    if survey is None or eval_survey is None:
        return common.own_without_survey(config, epochs=settings["epochs"],
                                         largest_batch=BATCH_SIZE)
    crop = crop_size(survey)
    config.dataset.update(image_size=crop, eval_size=eval_size(eval_survey),
                          scale_range=[0.5, 2.0] if min(survey.typical_size()) > MAX_CROP
                          else [1.0, 1.0])
    return common.own_schedule(config, survey.num_examples, epochs=settings["epochs"],
                               min_steps=settings["min_steps"], largest_batch=BATCH_SIZE)


def finalize(config):
    """The derived settings (module docstring), after the flags, which then apply again."""
    return derive(config, common.own_survey(config, config.dataset.train_split),
                  common.own_survey(config, config.dataset.eval_split))


def describe(config):
    """The log line of what the run derived from your data (None on Shapes and on data
    without a survey)."""
    settings = config.dataset
    survey = common.own_survey(config, settings.train_split)
    if settings.name == "shapes" or survey is None:
        return None
    low, high = settings.scale_range
    frame = "x".join(str(side) for side in settings.eval_size) or "the largest image"
    return common.own_data_line(
        config, survey,
        f"crop {settings.image_size}x{settings.image_size}, random scale {low:g}-{high:g}, "
        f"evaluation and export frame {frame}")
