"""What an export starts from: a run's model (EMA weights where the run kept them) and
images from its dataset, for calibration and for the check."""
import os

import keras
import numpy as np

from mobilenet_tf import UserError, callbacks, engine, optim
from mobilenet_tf.data.mask_pipeline import PAD_VALUE
from mobilenet_tf.export import serving
from mobilenet_tf.metrics import IGNORE_LABEL
from mobilenet_tf.tasks import TASKS


def model_path(model_dir=None, checkpoint=None, weights="final"):
    """The file to export: --checkpoint, else MODEL_DIR/{final,best}.keras."""
    path = checkpoint or (model_dir and os.path.join(model_dir, f"{weights}.keras"))
    if not path:
        raise UserError("nothing to export: give --model_dir=DIR of a training run or "
                        "--checkpoint=FILE")
    if not os.path.exists(path):
        raise UserError(f"{path} not found; give --model_dir of a finished run (it ends by "
                        "writing final.keras) or --checkpoint=FILE")
    return path


def load_model(config, path):
    """The Keras model in `path`: a .keras file (train.py writes final.keras and best.keras
    with the EMA weights already swapped in), or a checkpoints/ckpt-*.weights.h5 file of the
    run `config` describes, whose optimizer state holds the EMA weights, used when present."""
    if path.endswith(".keras"):
        return keras.saving.load_model(path, compile=False)
    if not path.endswith(".weights.h5"):
        raise UserError(f"{path}: export takes a .keras model or a run's "
                        "checkpoints/ckpt-*.weights.h5 file")
    task = TASKS[config.task]
    _, info = task.build_inputs(config, config.dataset.eval_split, training=False)
    model = task.build_model(config, num_classes=info.num_classes)
    optimizer = optim.build_optimizer(config, steps_per_epoch=1, total_steps=1)
    engine.compile_model(model, task, config, optimizer)
    model.load_weights(path)
    with callbacks.ema_weights(model):
        weights = model.get_weights()
    clean = task.build_model(config, num_classes=info.num_classes)   # no optimizer attached
    clean.set_weights(weights)
    return clean


def input_size(config, model, flag=None):
    """(height, width) to export a model built for any input size at (segmentation): the
    --input_size flag (N or H,W), else the run's dataset.eval_size, else the frame its
    evaluation split pads to; None for a model with a fixed size (its own is used)."""
    if flag:
        try:
            sides = [int(side) for side in flag]
        except ValueError:
            sides = []
        if len(sides) not in (1, 2) or min(sides) < 1:
            raise UserError(f"--input_size={','.join(flag)}: give N or H,W in pixels")
        return (sides[0], sides[-1])
    if serving.has_fixed_size(model):
        return None
    if list(config.dataset.get("eval_size", [])):
        return tuple(int(side) for side in config.dataset.eval_size)
    frame, _ = images(config, config.dataset.eval_split, 1)
    return frame.shape[1:3]


def fit_to_size(pixels, labels, size):
    """Segmentation images and (N, H, W) masks cropped or padded (bottom and right, as the
    evaluation pipeline pads: mid-grey pixels, ignored mask pixels) to size (height, width);
    classification and detection batches (already at the model's size) pass unchanged."""
    if (isinstance(labels, dict) or np.ndim(labels) != 3
            or tuple(pixels.shape[1:3]) == tuple(size)):
        return pixels, labels
    pad = [(0, max(size[0] - pixels.shape[1], 0)), (0, max(size[1] - pixels.shape[2], 0))]
    pixels = np.pad(pixels, [(0, 0), *pad, (0, 0)], constant_values=PAD_VALUE)
    labels = np.pad(labels, [(0, 0), *pad], constant_values=IGNORE_LABEL)
    return pixels[:, :size[0], :size[1]], labels[:, :size[0], :size[1]]


def images(config, split, count, *, shuffled=False):
    """(uint8 (N, H, W, 3) images, labels (classification: (N,); segmentation: (N, H, W)
    masks; detection: the ground-truth dict COCO evaluation takes, see
    data.get_detection's groundtruth)) of up to `count` examples of `split`.

    shuffled=True draws them from the shuffled training stream (flips and crops on, MixUp,
    CutMix and RandAugment off, so they look like what the model meets when deployed);
    otherwise the first `count` in the split's evaluation order.
    """
    task = TASKS[config.task]
    config = config.copy_and_resolve_references()
    if shuffled:
        config.dataset.update(mixup_alpha=0.0, cutmix_alpha=0.0, randaugment_ops=0)
    config.train.batch_size = min(64, count)
    if config.task == "detection":   # each image's boxes, not the anchor targets
        dataset, _ = task.build_inputs(config, split, training=shuffled, groundtruth=True)
    else:
        dataset, _ = task.build_inputs(config, split, training=shuffled)
    pixels, labels, total = [], [], 0
    for batch_images, batch_labels in dataset:
        pixels.append(np.asarray(batch_images))
        labels.append({key: np.asarray(value) for key, value in batch_labels.items()
                       if key.startswith("gt_") or key in ("image_id", "original_size")}
                      if isinstance(batch_labels, dict) else np.asarray(batch_labels))
        total += len(pixels[-1])
        if total >= count:
            break
    if not pixels:
        raise UserError(f"the {config.dataset.name} {split} split gave no images")
    if isinstance(labels[0], dict):
        return np.concatenate(pixels)[:count], {
            key: np.concatenate([part[key] for part in labels])[:count] for key in labels[0]}
    return np.concatenate(pixels)[:count], np.concatenate(labels)[:count]
