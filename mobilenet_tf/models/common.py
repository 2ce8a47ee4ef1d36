"""What every builder does around its blocks: the input, the endpoints dict, the
classifier or pooling, and the float32 output under mixed precision."""

import keras
from keras import layers

FEATURE_LEVELS = ("C2", "C3", "C4", "C5")


def model_input(input_shape, include_preprocessing, mean=None, std=None):
    """The input layer, plus the [0, 255] -> [-1, 1] rescaling when asked.

    Every model in the zoo computes on [-1, 1] inputs, the range keras.applications'
    MobileNet, MobileNetV2, MobileNetV3 and Xception weights were trained on, except
    MobileNetV4, which gives per-channel `mean` and `std` of [0, 1] pixels (ImageNet's, as
    timm's and Model Garden's V4 are trained): (pixels / 255 - mean) / std, one Rescaling.
    """
    inputs = keras.Input(shape=input_shape, name="image")
    x = inputs
    if include_preprocessing and mean is not None:
        x = layers.Rescaling(scale=[1.0 / (255.0 * s) for s in std],
                             offset=[-m / s for m, s in zip(mean, std)], name="rescaling")(x)
    elif include_preprocessing:
        x = layers.Rescaling(scale=1.0 / 127.5, offset=-1.0, name="rescaling")(x)
    return inputs, x


def global_pool(x, pooling):
    """(B, H, W, C) -> (B, C) for pooling "avg" / "max"; unchanged for None."""
    if pooling == "avg":
        return layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if pooling == "max":
        return layers.GlobalMaxPooling2D(name="max_pool")(x)
    return x


def classifier_output(x, classifier_activation):
    """The last layer of every classifier: the activation in float32, so logits and
    probabilities stay float32 under mixed precision (what the losses expect)."""
    return layers.Activation(classifier_activation or "linear", dtype="float32",
                             name="classifier_activation")(x)


def finish_model(inputs, x, features, *, name, include_top, pooling, features_only, head):
    """Wraps the trunk into a keras.Model.

    features_only: outputs the dict of endpoints ("C2".."C5", "C4_expand" where the
    family has it). include_top: `head(x)` (the family's classifier). Otherwise the last
    feature map, globally pooled if `pooling` is "avg" or "max".
    """
    if features_only:
        outputs = {key: features[key] for key in (*FEATURE_LEVELS, "C4_expand") if key in features}
        return keras.Model(inputs, outputs, name=name)
    x = head(x) if include_top else global_pool(x, pooling)
    return keras.Model(inputs, x, name=name)
