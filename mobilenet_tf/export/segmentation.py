"""Segmentation's export hook (LR-ASPP, Mobile DeepLabv3): the signature returns the class map
a phone app draws, at the input size, and per-pixel probabilities: by default at the logits'
own resolution, before the model's final upsample (`coarse_probabilities`; 1/8 of each side
for LR-ASPP), or at the input size (`probabilities`, export.py
--segmentation_probabilities=full). An artifact is compared with the Keras model by pixel
agreement, largest probability difference and the mIoU of each on the check images' masks.

Why coarse by default: at 512x1024 a softmax over 19 classes at every pixel cost as much as
LR-ASPP V3-Small's whole network in LiteRT, and in int8 more (LiteRT's built-in int8 SOFTMAX
and the requantization of 10M values; benchmarks/RESULTS.md). The class map is exactly the
Keras model's argmax either way (it is taken from the upsampled logits).

A segmentation model is built for any input size; phone runtimes want one, so export
rebuilds it at a fixed size first (Serving's input_size; export.py: --input_size, default
the dataset's evaluation frame).
"""
import keras
import numpy as np
import tensorflow as tf

from mobilenet_tf import UserError
from mobilenet_tf.export.hook import ExportHook
from mobilenet_tf.metrics import confusion_matrix, scores_from_confusion

CLASS_MAP, PROBABILITIES, COARSE_PROBABILITIES = (
    "class_map", "probabilities", "coarse_probabilities")
# export.py --segmentation_probabilities: which probabilities the signature returns.
PROBABILITY_OUTPUTS = {"coarse": COARSE_PROBABILITIES, "full": PROBABILITIES}
LOGITS, COARSE_LOGITS = "logits", "coarse_logits"   # serving_model's outputs
UPSAMPLE = "upsample"   # the final resize to the input size (heads/lraspp.py, heads/deeplab.py)
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


def probabilities_key(outputs):
    """Which probabilities a segmentation export's outputs hold: PROBABILITIES (full) or
    COARSE_PROBABILITIES."""
    return PROBABILITIES if PROBABILITIES in outputs else COARSE_PROBABILITIES


def coarse_logits(model):
    """The logits that `model`'s final upsample (the layer both heads name UPSAMPLE) resizes
    to the input size: at the network's output stride. None for a model without one."""
    if UPSAMPLE not in {layer.name for layer in model.layers}:
        return None
    return model.get_layer(UPSAMPLE).input[0]


class SegmentationExport(ExportHook):
    """A class map and probabilities out; compared by pixel agreement and mIoU.

    probabilities: "coarse" (the softmax of the logits before the final upsample) or "full"
    (at the input size)."""

    TABLE_COLUMNS = TABLE_COLUMNS

    def __init__(self, probabilities="coarse"):
        if probabilities not in PROBABILITY_OUTPUTS:
            raise UserError(f"segmentation probabilities '{probabilities}': use one of "
                            f"{', '.join(PROBABILITY_OUTPUTS)}")
        self.probabilities = probabilities

    def configure(self, config=None, probabilities=None, **options):
        """This hook with `probabilities` ("coarse" / "full"; None keeps this hook's)."""
        super().configure(config, **options)   # a UserError for any other option
        return self if probabilities in (None, self.probabilities) else (
            SegmentationExport(probabilities))

    def serving_model(self, model):
        """`model` with its logits before the final upsample as a second output, where the
        probabilities are coarse: {"logits": ..., "coarse_logits": ...}."""
        coarse = coarse_logits(model) if self.probabilities == "coarse" else None
        if coarse is None:
            return model
        return keras.Model(model.inputs, {LOGITS: model.output, COARSE_LOGITS: coarse},
                           name=model.name)

    @staticmethod
    def _split(outputs):
        """serving_model's outputs -> (logits at the input size, the logits the probabilities
        are taken from)."""
        if isinstance(outputs, dict):
            return outputs[LOGITS], outputs[COARSE_LOGITS]
        return outputs, outputs

    def serving_outputs(self, model, outputs):
        """serving_model's outputs -> {"class_map": (B, H, W) int32 argmax of the (B, H, W, C)
        logits, and "coarse_probabilities" (B, h, w, C) or "probabilities" (B, H, W, C)
        float32}."""
        logits, source = (tf.cast(x, tf.float32) for x in self._split(outputs))
        return {CLASS_MAP: tf.argmax(logits, axis=-1, output_type=tf.int32),
                PROBABILITY_OUTPUTS[self.probabilities]: tf.nn.softmax(source, axis=-1)}

    def keras_outputs(self, model, outputs):
        """serving_outputs in Keras layers and ops, for the `.keras` artifact."""
        logits, source = self._split(outputs)
        name = PROBABILITY_OUTPUTS[self.probabilities]
        probabilities = keras.layers.Activation("softmax", dtype="float32", name=name)(source)
        class_map = keras.ops.cast(keras.ops.argmax(logits, axis=-1), "int32")
        return {CLASS_MAP: keras.layers.Identity(name=CLASS_MAP)(class_map),
                name: probabilities}

    def compare(self, reference, exported, labels):
        """Exported against Keras outputs (dicts of numpy arrays) on images with masks
        `labels`.

        max_abs_diff: largest probability difference; pixel_agreement: fraction of pixels where
        both pick the same class; mIoU / keras_mIoU: each against the masks; miou_delta: their
        difference.
        """
        key = probabilities_key(reference)
        num_classes = reference[key].shape[-1]
        ours, theirs = reference[CLASS_MAP], exported[CLASS_MAP]
        exported_miou = miou(theirs, labels, num_classes)
        keras_miou = miou(ours, labels, num_classes)
        return {"max_abs_diff": float(np.max(np.abs(reference[key] - exported[key]))),
                "pixel_agreement": float(np.mean(ours == theirs)),
                "mIoU": exported_miou, "keras_mIoU": keras_miou,
                "miou_delta": exported_miou - keras_miou}


HOOK = SegmentationExport()
