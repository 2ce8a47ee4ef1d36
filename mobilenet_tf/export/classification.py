"""Classification's export hook (HOOK): the signature returns softmax probabilities, and an
artifact is compared with the Keras model by top-1 agreement and accuracy.
"""
import keras
import numpy as np
import tensorflow as tf

from mobilenet_tf.export.hook import ExportHook

OUTPUT = "probabilities"
# (metrics key, table header, format) for the columns this task adds to the check table.
TABLE_COLUMNS = (
    ("max_abs_diff", "max abs diff", "{:.2e}"),
    ("top1_agreement", "top-1 agreement", "{:.2%}"),
    ("top1", "top-1", "{:.2%}"),
    ("top1_delta", "top-1 - Keras", "{:+.2%}"),
)


def _ends_in_softmax(model):
    activation = getattr(model.layers[-1], "activation", None)
    return getattr(activation, "__name__", "") == "softmax"


class ClassificationExport(ExportHook):
    """Probabilities out; compared by largest difference, top-1 agreement and accuracy."""

    TABLE_COLUMNS = TABLE_COLUMNS

    def serving_outputs(self, model, logits):
        """(B, num_classes) model outputs -> {"probabilities": (B, num_classes) float32}."""
        if _ends_in_softmax(model):   # built with classifier_activation="softmax"
            return {OUTPUT: tf.cast(logits, tf.float32)}
        return {OUTPUT: tf.nn.softmax(tf.cast(logits, tf.float32), axis=-1)}

    def keras_outputs(self, model, logits):
        """serving_outputs in Keras layers, for the `.keras` artifact."""
        if _ends_in_softmax(model):
            return {OUTPUT: keras.layers.Identity(name=OUTPUT)(logits)}
        return {OUTPUT: keras.layers.Activation("softmax", dtype="float32", name=OUTPUT)(logits)}


    def compare(self, reference, exported, labels):
        """Exported against Keras outputs (dicts of numpy arrays) on images with `labels`.

        max_abs_diff: largest probability difference; top1_agreement: fraction of images where
        both pick the same class; top1 / keras_top1: accuracy of each; top1_delta their difference.
        """
        ours, theirs = reference[OUTPUT], exported[OUTPUT]
        labels = np.asarray(labels).reshape(-1)
        top1 = float(np.mean(np.argmax(theirs, -1) == labels))
        keras_top1 = float(np.mean(np.argmax(ours, -1) == labels))
        return {"max_abs_diff": float(np.max(np.abs(ours - theirs))),
                "top1_agreement": float(np.mean(np.argmax(ours, -1) == np.argmax(theirs, -1))),
                "top1": top1, "keras_top1": keras_top1, "top1_delta": top1 - keras_top1}


HOOK = ClassificationExport()
