"""Weights for a detection or segmentation model, copied by layer name: the backbone's
ImageNet weights from keras.applications, or any of this project's saved models."""
import os

from mobilenet_tf import UserError, models
from mobilenet_tf.models import keras_import
from mobilenet_tf.tasks import classification


def copy_by_name(source_weights, model, source_name):
    """Copies every layer of `source_weights` ({name: arrays}) into the model's layer of the
    same name and shapes; UserError when nothing matches."""
    copied = 0
    for layer in model.layers:
        arrays = source_weights.get(layer.name)
        if arrays is not None and [a.shape for a in arrays] == [
                tuple(w.shape) for w in layer.weights]:
            layer.set_weights(arrays)
            copied += 1
    if not copied:
        raise UserError(f"--init_from={source_name}: no layer of it matches the model by name "
                        "and shape; give weights of the same backbone")
    return model


def init_by_name(model, source, config):
    """Loads weights before training or evaluation: "keras_applications" (the ImageNet
    weights of the registry's backbone for config's model; layers whose shapes differ, e.g.
    a halved last stage, stay as initialised), a timm `.safetensors` file (a MobileNetV4
    backbone's), a `.keras` model or a run's model dir (matching layers by name), or a
    `.weights.h5` file of the same architecture."""
    if source.endswith(".safetensors"):
        return models.import_timm(source, model)
    if source == "keras_applications":
        backbone = models.entry(config.model.name).backbone
        weights = keras_import.load_source_weights(
            classification.keras_applications_model(config, backbone))
        return copy_by_name(weights, model, source)
    if os.path.isdir(source):
        found = [os.path.join(source, name) for name in ("final.keras", "best.keras")
                 if os.path.exists(os.path.join(source, name))]
        if not found:
            raise UserError(f"--init_from={source}: no final.keras or best.keras in it")
        source = found[0]
    if not os.path.exists(source):
        raise UserError(f"--init_from={source}: file not found")
    if source.endswith(".weights.h5"):
        model.load_weights(source, skip_mismatch=True)
        return model
    return copy_by_name(keras_import.load_source_weights(source), model, source)
