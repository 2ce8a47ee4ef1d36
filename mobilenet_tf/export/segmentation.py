"""Segmentation's export hook (LR-ASPP, Mobile DeepLabv3): the signature returns the class map
a phone app draws, and the per-pixel probabilities; an artifact is compared with the Keras
model by pixel agreement, largest probability difference and the mIoU of each on the check
images' masks.

A segmentation model is built for any input size; phone runtimes want one, so export
rebuilds it at a fixed size first (Serving's input_size; export.py: --input_size, default
the dataset's evaluation frame).
"""
import keras
import numpy as np
import tensorflow as tf

from mobilenet_tf.export.hook import ExportHook
from mobilenet_tf.metrics import confusion_matrix, scores_from_confusion

CLASS_MAP, PROBABILITIES = "class_map", "probabilities"
TABLE_COLUMNS = (
    ("max_abs_diff", "max abs diff", "{:.2e}"),
    ("pixel_agreement", "pixel agreement", "{:.3%}"),
    ("mIoU", "mIoU", "{:.2%}"),
    ("miou_delta", "mIoU - Keras", "{:+.2%}"),
)


def miou(class_map, masks, num_classes):
    """mIoU of (N, H, W) predicted classes against (N, H, W) masks (255 left out),
    over all the pixels at once, as evaluate.py scores a split."""
    confusion = confusion_matrix(np.asarray(masks), np.asarray(class_map), num_classes)
    return scores_from_confusion(keras.ops.convert_to_numpy(confusion))["mIoU"]


class SegmentationExport(ExportHook):
    """A class map and probabilities out; compared by pixel agreement and mIoU."""

    TABLE_COLUMNS = TABLE_COLUMNS

    def serving_outputs(self, model, logits):
        """(B, H, W, C) logits -> {"class_map": (B, H, W) int32 argmax, "probabilities":
        (B, H, W, C) float32}."""
        logits = tf.cast(logits, tf.float32)
        return {CLASS_MAP: tf.argmax(logits, axis=-1, output_type=tf.int32),
                PROBABILITIES: tf.nn.softmax(logits, axis=-1)}

    def keras_outputs(self, model, logits):
        """serving_outputs in Keras layers and ops, for the `.keras` artifact."""
        probabilities = keras.layers.Activation("softmax", dtype="float32",
                                                name=PROBABILITIES)(logits)
        class_map = keras.ops.cast(keras.ops.argmax(logits, axis=-1), "int32")
        return {CLASS_MAP: keras.layers.Identity(name=CLASS_MAP)(class_map),
                PROBABILITIES: probabilities}

    def compare(self, reference, exported, labels):
        """Exported against Keras outputs (dicts of numpy arrays) on images with masks
        `labels`.

        max_abs_diff: largest probability difference; pixel_agreement: fraction of pixels where
        both pick the same class; mIoU / keras_mIoU: each against the masks; miou_delta: their
        difference.
        """
        num_classes = reference[PROBABILITIES].shape[-1]
        ours, theirs = reference[CLASS_MAP], exported[CLASS_MAP]
        exported_miou = miou(theirs, labels, num_classes)
        keras_miou = miou(ours, labels, num_classes)
        return {"max_abs_diff": float(np.max(np.abs(reference[PROBABILITIES]
                                                    - exported[PROBABILITIES]))),
                "pixel_agreement": float(np.mean(ours == theirs)),
                "mIoU": exported_miou, "keras_mIoU": keras_miou,
                "miou_delta": exported_miou - keras_miou}


HOOK = SegmentationExport()
