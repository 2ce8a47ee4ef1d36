"""Your own boxes (--dataset=coco_json, or any detection dataset without a recipe of its own):
SSDLite with settings derived from your data, not from COCO's size (finalize() below).

    python train.py --model=ssdlite_v3_small --dataset=coco_json --data_dir=DIR \\
        --config.dataset.options.annotation_file=annotations/instances_{split}.json \\
        --config.dataset.options.image_dir=images/{split}
    python train.py ... --init_from=keras_applications     # the backbone from ImageNet
    python evaluate.py --model_dir=runs/RUN                # COCO AP with pycocotools

Why not the COCO recipe: its learning rate (0.4 at batch 512) and its warm-up (2,000 steps,
8.66 epochs of COCO at 512) were fitted to 118k images and 400k steps; on 150 images a
60-step run at batch 16 ended inside the warm-up with AP 0.002, where configs/shapes_det.py's
settings reached AP50 0.79 in 150 steps on the same data (issue 21's figures).
Source: from scratch (no --init_from), configs/shapes_det.py's settings, measured on this
repository's Shapes (its docstring has the figures): width 0.5, SGD with Nesterov momentum
at 0.2 for batch 32, batch-norm momentum 0.9, cosine decay after a short warm-up, focal loss
with the class-bias start, flips but no SSD random crop, expansion or colour distortion.
With --init_from: the published ImageNet weights are width 1.0, and the rest is the TF
Object Detection API's ssdlite_mobilenet_v3_*_320x320_coco.config (batch-norm decay 0.97,
momentum 0.9, L2 4e-5) at its rate scaled linearly to batch 32 (0.4 / 512 * 32 = 0.025).
Derived from the data (finalize(), mobilenet_tf.data.survey: the annotation JSON's "images"
entries, no image read), each choice with its reason:
- input size: the typical image's side (the square root of the median height times the
  median width; SSD resizes to a square) to the nearest multiple of 32, within [128, 320]:
  320 is the papers' SSDLite input, and below 128 the stride-16 first map is too coarse
  (shapes_det.py: 64 and 96 px lost to 128);
- batch: 32, halved until an epoch has at least 4 steps (common.own_batch_size);
- length: 30 epochs (as finetune.py from scratch) but at least 500 steps from scratch, 20
  epochs and at least 300 steps with --init_from: random weights need several hundred steps
  however few the images (shapes_det.py: 465 steps);
- warm-up 5% of the steps, cosine decay to the last step, validation and checkpoints about
  10 times a run (common.own_schedule).
Your --batch_size, --epochs / --steps and --config.* overrides win over all of these.
Expected: on tests/test_own_data.py's fixture (150 training and 40 validation 64x64 PNGs,
one circle, square or triangle each painted its class's colour, as a COCO JSON with
category ids 3, 7 and 11), the derived recipe as it stands (input 128, batch 32, 500 steps,
warm-up 25) reaches COCO AP50 0.998, AP 0.734 (seed 0; 253 user + 18 system CPU seconds,
5.5 minutes wall on 2 shared CPU cores, 2026-12-05); the test's 50-step run at width 0.35
and batch 16: AP50 0.478 and 0.455 (seeds 0, 1), 30 CPU seconds. With --init_from: not
measured (no ImageNet weights on this machine). Time: minutes on a CPU for a few hundred
images.
"""
from configs import common

SCRATCH = dict(width=0.5, bn_momentum=0.9, learning_rate=0.2, nesterov=True,
               weight_decay=0.0, epochs=30, min_steps=500)
PRETRAINED = dict(width=1.0, bn_momentum=0.97, learning_rate=0.025, nesterov=False,
                  weight_decay=4e-5, epochs=20, min_steps=300)
BATCH_SIZE = 32          # the batch the learning rates are for
MIN_SIZE, MAX_SIZE = 128, 320


def get_config():
    config = common.base(model="ssdlite_v3_small", dataset="coco_json")
    config = common.detection(config, "coco_json", image_size=320)
    config.detection.update(crop=False, expand=False, photometric=False, flip=True)
    # 0: derived from your data in finalize() (unless given on the command line).
    config.train.update(batch_size=0, epochs=0, steps=0, regularize_depthwise=False)
    config.optimizer.update(name="sgd", learning_rate=0.2, momentum=0.9, nesterov=True)
    config.schedule.update(name="cosine", min_learning_rate=0.0)
    return config


def input_size(survey):
    """The square input side for a data.Survey (see the module docstring)."""
    height, width = survey.typical_size()
    return common.multiple_of((height * width) ** 0.5, 32, MIN_SIZE, MAX_SIZE)


def derive(config, survey):
    """Sets every derived field from a data.Survey of the training split (None: a dataset
    without one; common.own_without_survey) and whether train.init_from is given."""
    settings = SCRATCH if not config.train.init_from else PRETRAINED
    config.model.update(width=settings["width"], bn_momentum=settings["bn_momentum"])
    config.optimizer.update(learning_rate=settings["learning_rate"],
                            nesterov=settings["nesterov"], base_batch_size=BATCH_SIZE)
    config.train.weight_decay = settings["weight_decay"]
    if survey is None:
        return common.own_without_survey(config, epochs=settings["epochs"],
                                         largest_batch=BATCH_SIZE)
    config.dataset.image_size = input_size(survey)
    return common.own_schedule(config, survey.num_examples, epochs=settings["epochs"],
                               min_steps=settings["min_steps"], largest_batch=BATCH_SIZE)


def finalize(config):
    """The derived settings (module docstring), after the flags, which then apply again."""
    return derive(config, common.own_survey(config, config.dataset.train_split))


def describe(config):
    """The log line of what the run derived from your data (None on Shapes and on data
    without a survey)."""
    survey = common.own_survey(config, config.dataset.train_split)
    if config.dataset.name == "shapes" or survey is None:
        return None
    size = config.dataset.image_size
    return common.own_data_line(config, survey, f"input {size}x{size}")
