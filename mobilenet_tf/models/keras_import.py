"""Copies keras.applications weights into our models, which is how users get the published
ImageNet weights:

    source = keras.applications.MobileNetV2(weights="imagenet")   # or a path to its .h5 file
    model = build("mobilenet_v2")
    import_keras_applications(source, model)

Layers are matched by name (ours keep keras.applications' names for every weighted layer).
The few keras.applications layers that have no stable name (Xception's residual 1x1 convs
and their BN, named by a global counter) are matched in order among the unnamed leftovers of
the same weight shapes. Anything that does not match exactly is an error, never a partial copy.
"""

import os
import re

import h5py
import keras
import numpy as np

from mobilenet_tf import UserError
from mobilenet_tf.models import registry

# Classifier layers, which a model built with include_top=False does not have: the
# classifiers' new_layers in the registry.
HEAD_LAYERS = tuple(dict.fromkeys(prefix for row in registry.MODELS
                                  if row.task == "classification" for prefix in row.new_layers))


def _natural_key(name):
    """'conv2d_10' after 'conv2d_9': numbers compared as numbers."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def _weights_from_model(model):
    return {layer.name: [np.asarray(w) for w in layer.get_weights()]
            for layer in model.layers if layer.weights}


def _weights_from_legacy_h5(path):
    """{layer name: [arrays]} from a Keras 2 / keras.applications HDF5 weights or model file."""
    with h5py.File(path, "r") as f:
        group = f["model_weights"] if "model_weights" in f else f
        if "layer_names" not in group.attrs:
            raise UserError(
                f"{path} is a Keras 3 .weights.h5 file, which stores no layer names: build the "
                "keras.applications model, call load_weights() on it and pass that model instead")
        weights = {}
        for raw in group.attrs["layer_names"]:
            name = raw.decode() if isinstance(raw, bytes) else str(raw)
            layer_group = group[name]
            names = [n.decode() if isinstance(n, bytes) else n
                     for n in layer_group.attrs["weight_names"]]
            if names:
                weights[name] = [np.asarray(layer_group[n]) for n in names]
        return weights


def load_source_weights(source):
    """{layer name: [arrays]} from a keras.Model, a `.keras` file or a legacy `.h5` file."""
    if isinstance(source, keras.Model):
        return _weights_from_model(source)
    path = os.fspath(source)
    if not os.path.exists(path):
        raise UserError(f"weights file {path} does not exist")
    if path.endswith(".keras"):
        return _weights_from_model(keras.saving.load_model(path, compile=False))
    if path.endswith(".h5"):
        return _weights_from_legacy_h5(path)
    raise UserError(f"cannot read weights from {path}: expected a keras.Model, a .keras file or "
                    "a keras.applications .h5 weights file")


def _shapes(arrays):
    return tuple(tuple(a.shape) for a in arrays)


def match_layers(source_weights, target, skip=()):
    """Pairs each weighted layer of `target` (but those named in `skip`) with its source
    arrays; UserError on mismatch."""
    targets = {layer.name: layer for layer in target.layers
               if layer.weights and layer.name not in skip}
    pairs = {name: source_weights[name] for name in targets if name in source_weights}
    missing = [name for name in targets if name not in pairs]
    spare = sorted((name for name in source_weights if name not in targets), key=_natural_key)
    # Unnamed leftovers (Xception's residual convs) pair in order, shape for shape.
    for name in missing:
        wanted = _shapes(targets[name].get_weights())
        found = next((s for s in spare if _shapes(source_weights[s]) == wanted), None)
        if found is None:
            raise UserError(
                f"cannot import weights: layer {name!r} of {target.name} (shapes {wanted}) has "
                "no counterpart in the source; build the same architecture, width and options "
                "(minimalistic, num_classes) as the keras.applications model")
        pairs[name] = source_weights[found]
        spare.remove(found)
    unused = [name for name in spare if not name.startswith(HEAD_LAYERS)]
    if unused:
        raise UserError(f"cannot import weights: source layers {unused[:5]} have no counterpart in "
                        f"{target.name}; the architectures differ")
    return [(targets[name], arrays) for name, arrays in pairs.items()]


def import_keras_applications(source, target, new_head=False):
    """Copies every weight of `source` (a keras.applications model, its `.keras` file or its
    `.h5` weights file) into our model `target`, failing with UserError on any mismatch
    before anything is written. new_head=True leaves the classifier layers whose shapes
    differ from the source's (another number of classes) as initialised, for fine-tuning.
    Returns `target`."""
    source_weights = load_source_weights(source)
    skip = ()
    if new_head:
        skip = {layer.name for layer in target.layers
                if layer.name.startswith(HEAD_LAYERS) and layer.weights
                and _shapes(layer.get_weights()) != _shapes(source_weights.get(layer.name, []))}
        source_weights = {name: arrays for name, arrays in source_weights.items()
                          if name not in skip}
    pairs = match_layers(source_weights, target, skip)
    for layer, arrays in pairs:
        expected = _shapes(layer.get_weights())
        if _shapes(arrays) != expected:
            raise UserError(
                f"cannot import weights into layer {layer.name!r}: source shapes "
                f"{_shapes(arrays)} vs ours {expected}; build the same width, options and "
                "num_classes as the source (or include_top=False to leave the classifier out)")
    for layer, arrays in pairs:
        layer.set_weights(arrays)
    return target
