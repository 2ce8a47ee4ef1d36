"""Shared pieces of the recipes: every field with its default, and the ImageNet parts.

A recipe file defines get_config() -> ml_collections.ConfigDict, starting from base() and
overriding only what differs. Any field can be overridden on the command line:
    python train.py --config=configs/mobilenet_v2_imagenet.py --config.optimizer.learning_rate=0.1
"""
import ml_collections


def base(model="mobilenet_v3_small", dataset="shapes"):
    """Every field a recipe can set, with its default (a field must exist to be overridden)."""
    config = ml_collections.ConfigDict()
    config.task = "classification"
    config.model = dict(
        name=model,
        width=1.0,
        dropout=0.2,
        bn_momentum=0.99,           # Keras's decay of the moving statistics
        bn_epsilon=1e-3,
        sync_batch_norm=False,      # batch statistics over all replicas (small per-replica batches)
        options={},                 # further build() options: minimalistic, reduced_tail, activation, ...
    )
    config.dataset = dict(
        name=dataset,
        data_dir="",
        train_split="train",
        eval_split="validation",
        image_size=224,
        crop_fraction=0.875,        # evaluation: the central 87.5% of the short side
        augment=True,               # False: training examples are prepared like evaluation ones
        crop_area_range=[0.08, 1.0],  # training crop's area (Inception crop, photos); [1, 1]: whole
        flip=True,                  # training: random horizontal flips (False for digits, text)
        randaugment_ops=0,
        randaugment_magnitude=0.5,
        mixup_alpha=0.0,
        cutmix_alpha=0.0,
        shuffle_buffer=10_000,
        cache=False,
        autotune="auto",            # tf.data autotuning: on | off | auto (off for Shapes, whose
                                    # short runs it slows: mobilenet_tf.data.autotuned)
        options={},                 # further loader options: num_examples (shapes), validation_fraction (folder)
    )
    config.train = dict(
        batch_size=128,             # global, over all replicas
        epochs=10,
        steps=0,                    # > 0: train this many steps instead of `epochs` epochs
        label_smoothing=0.0,
        weight_decay=0.0,           # L2 on conv and dense kernels, TF-slim's scale: loss += wd * sum(w^2) / 2
        regularize_depthwise=True,  # the V1 paper puts little or no decay on depthwise filters
        ema_decay=0.0,              # > 0: exponential moving average of the weights, used to evaluate and export
        gradient_clip_norm=0.0,     # > 0: clip the global gradient norm
        seed=0,
        steps_per_execution=1,
        checkpoint_every_steps=1000,
        keep_checkpoints=2,
        eval_every_epochs=1,
        log_every_steps=50,
        validation_pictures=8,      # TensorBoard: this many validation images drawn with the
                                    # predictions after each validation, the confusion matrix,
                                    # detection's PR curves (mobilenet_tf/visualize); 0: none
        profile_steps="",           # "START,END": a TensorBoard profiler trace of those steps
        init_from="",               # keras_applications, or a .keras / .weights.h5 / checkpoint file
        freeze_backbone=False,
    )
    config.optimizer = dict(
        name="sgd",                 # sgd | rmsprop (TF's semantics) | adam | adamw
        learning_rate=0.1,          # at base_batch_size
        base_batch_size=0,          # > 0: learning rate scales linearly with batch_size / base_batch_size
        momentum=0.9,
        nesterov=False,
        rho=0.9,                    # RMSprop decay
        epsilon=1e-3,
        beta_1=0.9,
        beta_2=0.999,
        weight_decay=0.0,           # decoupled (AdamW)
        lr_multipliers={},          # {layer name: learning-rate factor}, e.g. {"predictions": 0.1}
    )
    config.schedule = dict(
        name="cosine",              # constant | cosine | exponential | linear | poly
        warmup_epochs=0.0,
        decay_rate=0.97,            # exponential: multiply by this every decay_epochs
        decay_epochs=2.4,
        staircase=True,
        power=0.9,                  # poly: (1 - progress) ** power (DeepLab's 0.9)
        min_learning_rate=0.0,      # floor of every schedule
    )
    config.runtime = dict(
        mixed_precision="auto",     # auto | float32 | mixed_float16 | mixed_bfloat16
        distribution="auto",        # auto | one_device | mirrored | multi_worker | tpu
        tpu="",                     # TPU name or grpc:// address for TPUStrategy
        data_service="",            # grpc://HOST:PORT: training batches from a tf.data service
        jit_compile="auto",         # auto: XLA on GPU and TPU, not on CPU (8x slower there)
        run_eagerly=False,          # True: op by op, no tf.function (debugging; --smoke_test's
                                    # few steps run faster than a graph is traced)
    )
    return config


def imagenet(config, image_size=224):
    """Points a config at ImageNet: the recipe's data part for every ImageNet run."""
    config.dataset.name = "imagenet"
    config.dataset.image_size = image_size
    config.dataset.eval_split = "validation"
    config.train.checkpoint_every_steps = 2000
    config.train.log_every_steps = 100
    return config


def rmsprop(config, learning_rate, base_batch_size, epsilon=1e-3):
    """TF-style RMSprop with decay 0.9 and momentum 0.9, as the MobileNet papers train."""
    config.optimizer.update(name="rmsprop", learning_rate=learning_rate,
                            base_batch_size=base_batch_size, rho=0.9, momentum=0.9,
                            epsilon=epsilon)
    return config


def exponential_decay(config, decay_rate, decay_epochs, warmup_epochs=0.0):
    """Staircase exponential decay per `decay_epochs` epochs, after a linear warm-up."""
    config.schedule.update(name="exponential", decay_rate=decay_rate,
                           decay_epochs=decay_epochs, warmup_epochs=warmup_epochs,
                           staircase=True)
    return config


# --smoke_test sizes: the smallest input every model of a task takes (Xception: 71).
SMOKE_IMAGE_SIZE = {"classification": 32, "detection": 64, "segmentation": 32}
SMOKE_MIN_SIZE = {"xception": 72}


def smoke(config, steps=2, batch_size=8, image_size=None):
    """Shrinks any recipe to a seconds-long run on the built-in Shapes data of its task
    (`train.py --smoke_test`), keeping what the recipe decides about training (optimizer,
    schedule, losses, regularisation, EMA, augmentation switches): a recipe's wiring, checked
    end to end before a long run. Paths, pretrained weights, devices and the validation
    pictures are dropped.
    image_size: default the smallest every model of the task takes."""
    task = config.task
    size = image_size or max(SMOKE_IMAGE_SIZE[task], SMOKE_MIN_SIZE.get(config.model.name, 0))
    config.dataset.update(name="shapes", data_dir="", image_size=size, shuffle_buffer=64,
                          cache=False)
    config.dataset.options = {"num_examples": 8 * batch_size, "eval_examples": 2 * batch_size}
    if task == "segmentation":   # the Shapes masks' own frame and classes
        config.dataset.eval_size = []
        config.segmentation.update(class_weights=[], eval_window=0)
    # No validation pictures: a 2-step model's predictions are noise, and drawing them was a
    # tenth of a smoke run. The grid of training images stays (the recipe's augmentation).
    config.train.update(steps=steps, batch_size=batch_size, checkpoint_every_steps=steps,
                        log_every_steps=1, init_from="", freeze_backbone=False,
                        eval_every_epochs=1, validation_pictures=0)
    config.optimizer.base_batch_size = 0   # the recipe's rate as it is, not scaled to batch 8
    config.runtime.update(distribution="auto", tpu="", data_service="", run_eagerly=True)
    return config


def model_garden_mobilenet(config):
    """The parts TF Model Garden's MobileNet ImageNet recipes share: their `mobilenet_imagenet`
    experiment (official/vision/configs/image_classification.py), which the
    imagenet_mobilenet*_tpu.yaml files override.

    Global batch 4096 on a TPU; RMSprop rho 0.9, momentum 0.9, epsilon 0.002 at 0.008 per 128
    images (0.256 at 4096); 5 warm-up epochs, then x0.98 every 2.5 epochs; 500 epochs;
    label smoothing 0.1; dropout 0.2; batch norm momentum 0.997, epsilon 1e-3. Their
    l2_weight_decay 1e-5 is applied as keras l2(1e-5 / 2), which is our TF-slim scale, and
    their MobileNet backbone leaves depthwise kernels unregularised (regularize_depthwise=False).
    Their RMSprop is Keras's, whose mean square starts at 0 (ours starts at 1, as TF 1's did);
    the five warm-up epochs make the difference vanish.
    """
    config = imagenet(config)
    config.model.update(dropout=0.2, bn_momentum=0.997, bn_epsilon=1e-3)
    config.train.update(batch_size=4096, epochs=500, label_smoothing=0.1, weight_decay=1e-5,
                        regularize_depthwise=False)
    rmsprop(config, learning_rate=0.256, base_batch_size=4096, epsilon=0.002)
    return exponential_decay(config, decay_rate=0.98, decay_epochs=2.5, warmup_epochs=5)


IMAGENET_TRAIN_IMAGES = 1_281_167


def model_garden_mobilenet_v4(config, *, image_size, batch_size, train_steps, learning_rate,
                              weight_decay, dropout, bn_momentum, bn_epsilon,
                              randaugment_magnitude, beta_1=0.9, epsilon=1e-7):
    """The parts TF Model Garden's MobileNetV4 ImageNet recipes share
    (official/vision/configs/experiments/image_classification/imagenet_mobilenetv4_*_tpu.yaml):
    AdamW with decoupled weight decay (times the learning rate, as Keras's AdamW and their
    AdamWeightDecay apply it; batch norm excluded) and no L2, a linear warm-up of 1560 steps
    then cosine decay to 0 over `train_steps` steps at global batch `batch_size`, label
    smoothing 0.1, RandAugment (2 operations; their magnitudes, on TF's 0-10 scale, are not
    Keras's, so the factor here is ours: 0.5 for their 9, 0.7 for their 15)."""
    config = imagenet(config, image_size)
    steps_per_epoch = IMAGENET_TRAIN_IMAGES / batch_size
    config.model.update(dropout=dropout, bn_momentum=bn_momentum, bn_epsilon=bn_epsilon)
    config.dataset.update(randaugment_ops=2, randaugment_magnitude=randaugment_magnitude)
    config.train.update(batch_size=batch_size, epochs=round(train_steps / steps_per_epoch),
                        label_smoothing=0.1, weight_decay=0.0)
    config.optimizer.update(name="adamw", learning_rate=learning_rate,
                            base_batch_size=batch_size, beta_1=beta_1, beta_2=0.999,
                            epsilon=epsilon, weight_decay=weight_decay)
    config.schedule.update(name="cosine", warmup_epochs=round(1560 / steps_per_epoch, 2),
                           min_learning_rate=0.0)
    return config


def mobilenet_v3_paper(config):
    """Section 6.1 of the MobileNetV3 paper (arXiv:1905.02244), for Large and Small: batch 4096,
    RMSprop momentum 0.9 at 0.1, x0.99 every 3 epochs, dropout 0.2, L2 1e-5, EMA 0.9999,
    batch norm decay 0.99; epsilon 0.001, depthwise unregularised and 1000 epochs where the
    paper is silent (the recipe files say where those come from)."""
    config = imagenet(config)
    config.model.update(dropout=0.2, bn_momentum=0.99, bn_epsilon=1e-3)
    config.train.update(batch_size=4096, epochs=1000, weight_decay=1e-5,
                        regularize_depthwise=False, ema_decay=0.9999)
    rmsprop(config, learning_rate=0.1, base_batch_size=4096, epsilon=1e-3)
    return exponential_decay(config, decay_rate=0.99, decay_epochs=3)


def segmentation(config, dataset, crop_size, eval_size=()):
    """Turns a config into a segmentation recipe: the task, the dataset with its training
    crop (dataset.image_size, square), evaluation frame (dataset.eval_size [H, W]; empty: the
    dataset's largest, e.g. 1024x2048 for Cityscapes) and random scale range, and the
    `segmentation` section (class weights, multi-scale / flipped / sliding-window eval)."""
    config.task = "segmentation"
    config.dataset.update(name=dataset, image_size=crop_size, eval_split="validation",
                          shuffle_buffer=1000, augment=True)
    config.dataset.eval_size = list(eval_size)
    config.dataset.scale_range = [0.5, 2.0]   # DeepLab's and torchvision's random scale
    config.segmentation = dict(
        class_weights=[],          # per class loss weights; empty: all 1
        eval_scales=[1.0],         # e.g. [0.75, 1.0, 1.25]: multi-scale evaluation
        eval_flip=False,           # also average the left-right flipped prediction
        eval_window=0,             # > 0: predict window x window tiles (1/3 overlap)
    )
    return config



def detection(config, dataset, image_size=320):
    """Turns a config into an SSDLite detection recipe: the task, the dataset at a square
    image_size (SSD resizes without keeping the aspect), and the `detection` section (loss,
    anchors, box augmentation, post-processing). Defaults: the TF Object Detection API's
    ssdlite_mobilenet_v3_large_320x320_coco."""
    config.task = "detection"
    config.dataset.update(name=dataset, image_size=image_size, eval_split="validation",
                          shuffle_buffer=1000, augment=True)
    config.model.dropout = 0.0
    config.detection = dict(
        classification_loss="focal",   # focal (sigmoid, OD API V3) | softmax (hard negatives)
        focal_alpha=0.75,
        focal_gamma=2.0,
        class_prior=0.01,              # focal: class biases start at -log((1 - p) / p)
        negatives_per_positive=3,      # softmax: hard negative mining ratio
        box_weight=1.0,
        class_weight=1.0,
        min_scale=0.2,                 # anchors (mobilenet_tf.detection.anchors)
        max_scale=0.95,
        aspect_ratios=[1.0, 2.0, 0.5, 3.0, 0.333],
        max_boxes=100,                 # ground-truth boxes kept per image for evaluation
        crop=True,                     # SSD random crop with minimum IoU constraints
        expand=True,                   # random zoom out
        photometric=True,
        flip=True,
        score_threshold=0.01,          # post-processing for evaluation and export
        iou_threshold=0.6,
        max_per_class=100,
        max_detections=100,
    )
    return config


def off_shapes(config, *fields):
    """A Shapes recipe's finalize(): on other data (`--config=configs/shapes_det.py
    --dataset=coco_json`) it drops the Shapes generator's loader options (num_examples,
    eval_examples), which other loaders do not take, and resets `fields` (dotted, e.g.
    "segmentation.class_weights": Shapes' 7 classes) to base()'s defaults. Explicit
    --config.* overrides still apply after it."""
    if config.dataset.name == "shapes":
        return config
    config.dataset.options = {key: value for key, value in config.dataset.options.items()
                              if key not in ("num_examples", "eval_examples")}
    defaults = segmentation(detection(base(), "shapes"), "shapes", 64)
    for field in fields:
        section, name = field.split(".")
        config[section][name] = defaults[section][name]
    return config


# -- Your own data: settings derived from the dataset (own_detection.py, own_segmentation.py) --

OWN_MIN_STEPS_PER_EPOCH = 4   # the batch halves until an epoch has at least this many steps
OWN_WARMUP_FRACTION = 0.05    # of the run's steps, at least one
OWN_EVALUATIONS = 10          # validations and checkpoints spread over a run


def own_batch_size(num_examples, largest):
    """The largest power of two up to `largest` that gives an epoch of at least
    OWN_MIN_STEPS_PER_EPOCH batches of num_examples (at least 2): 150 images at 32 stay 32
    (4 steps), 40 images take 8 (5 steps)."""
    batch_size = largest
    while batch_size > 2 and num_examples // batch_size < OWN_MIN_STEPS_PER_EPOCH:
        batch_size //= 2
    return batch_size


def own_schedule(config, num_examples, *, epochs, min_steps, largest_batch):
    """Sets the run's length and intervals in steps from the number of training examples.

    What is already set wins: train.batch_size > 0 (--batch_size), train.steps > 0 or
    train.epochs > 0 (--steps, --epochs); the recipe leaves them 0. Otherwise the batch is
    own_batch_size(), and the run is `epochs` epochs but at least `min_steps` steps
    (random weights need several hundred steps, however few the images). The warm-up is
    OWN_WARMUP_FRACTION of the run's steps (set as schedule.warmup_epochs, which the engine
    turns back into exactly those steps); the decay (the schedule) ends with the run;
    validation and checkpoints come about OWN_EVALUATIONS times a run."""
    train = config.train
    if train.batch_size <= 0:
        train.batch_size = own_batch_size(num_examples, largest_batch)
    steps_per_epoch = max(num_examples // train.batch_size, 1)
    if train.steps > 0:
        total = train.steps
    elif train.epochs > 0:
        total = train.epochs * steps_per_epoch
    else:
        total = train.steps = max(epochs * steps_per_epoch, min_steps)
    config.schedule.warmup_epochs = max(1, round(OWN_WARMUP_FRACTION * total)) / steps_per_epoch
    run_epochs = -(-total // steps_per_epoch)
    train.eval_every_epochs = max(1, -(-run_epochs // OWN_EVALUATIONS))
    train.checkpoint_every_steps = max(steps_per_epoch, total // OWN_EVALUATIONS)
    train.log_every_steps = max(1, min(50, steps_per_epoch))
    return config


def multiple_of(value, multiple, low, high, up=False):
    """value rounded to a multiple of `multiple` (the nearest one, or the next one up when
    up=True), then clamped to [low, high]."""
    rounded = -(-value // multiple) * multiple if up else round(value / multiple) * multiple
    return int(min(max(rounded, low), high))


def own_survey(config, split):
    """The data.Survey of config's dataset split (mobilenet_tf.data.survey: annotations or
    file headers, no pipeline); Shapes from its generator's settings, so a recipe for your own
    data also runs on Shapes (and --smoke_test). None for a dataset without a survey (e.g.
    one of another task, which the task's check then names)."""
    from mobilenet_tf import data   # TensorFlow: imported only when a recipe is finalized
    settings = config.dataset
    if settings.name == "shapes":
        count = settings.options.get("num_examples") or data.shapes.SPLIT_SIZES["train"]
        size = settings.image_size
        return data.Survey(num_examples=count, sizes=((size, size),))
    if not data.can_survey(settings.name):
        return None
    return data.survey(settings.name, split, data_dir=settings.data_dir,
                       **settings.options.to_dict())


def own_without_survey(config, *, epochs, largest_batch):
    """A recipe for your own data on a dataset it cannot survey: the recipe's batch and
    `epochs` epochs (unless given), one epoch of warm-up; sizes stay the recipe's."""
    if config.train.batch_size <= 0:
        config.train.batch_size = largest_batch
    if config.train.steps <= 0 and config.train.epochs <= 0:
        config.train.epochs = epochs
    config.schedule.warmup_epochs = 1.0
    return config


def own_data_line(config, survey, settings):
    """The log line of a recipe for your own data: what the run trains with (after the flags
    and overrides) and the data it was derived from; `settings` adds the recipe's part."""
    height, width = survey.typical_size()
    train = config.train
    steps_per_epoch = max(survey.num_examples // train.batch_size, 1)
    total = train.steps if train.steps > 0 else train.epochs * steps_per_epoch
    warmup = round(config.schedule.warmup_epochs * steps_per_epoch)
    start = "with --init_from" if train.init_from else "from scratch"
    return (f"derived from your data ({survey.num_examples} training images, typical size "
            f"{height}x{width}): batch {train.batch_size}, {total} steps ({steps_per_epoch} "
            f"per epoch), warm-up {warmup} steps, {config.schedule.name} decay to the last "
            f"step, validation every {train.eval_every_epochs} epoch(s), checkpoints every "
            f"{train.checkpoint_every_steps} steps; {settings}; {start}: width "
            f"{config.model.width:g}, batch-norm momentum {config.model.bn_momentum:g}, "
            f"{config.optimizer.name} {config.optimizer.learning_rate:g}"
            + (f" at batch {config.optimizer.base_batch_size}"
               if config.optimizer.base_batch_size else "")
            + " (your flags and --config overrides included; config.json has every setting)")
