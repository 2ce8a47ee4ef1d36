"""The exported signature: image pixels in, the task's outputs out, normalisation inside.

A phone app hands the model camera pixels: `(B, H, W, 3)` uint8 (or float32 pixel values in
[0, 255] with `input_type="float32"`) at the model's input size. The [0, 255] -> [-1, 1]
rescaling runs inside the graph (the model's own `rescaling` layer when it was built with
`include_preprocessing=True`, else one added here), and the task hook turns the model's raw
outputs into what an app consumes (classification: probabilities).
"""
import keras
import tensorflow as tf

from mobilenet_tf import UserError

INPUT_NAME = "images"
INPUT_TYPES = ("uint8", "float32")
PIXEL_MAX = 255.0


def takes_pixels(model):
    """Whether `model` rescales [0, 255] pixels itself (built with include_preprocessing)."""
    return any(isinstance(layer, keras.layers.Rescaling) for layer in model.layers[:3])


def _input_shape(model):
    shape = model.input_shape
    if isinstance(shape, list) or len(shape) != 4 or shape[-1] != 3:
        raise UserError(f"export takes a model with one (H, W, 3) image input, got input shape "
                        f"{shape}")
    return shape


def has_fixed_size(model):
    """Whether both sides of the model's input are fixed."""
    shape = _input_shape(model)
    return shape[1] is not None and shape[2] is not None


def image_size(model):
    """(height, width) of the model's input; a UserError when a side is not fixed."""
    shape = _input_shape(model)
    if shape[1] is None or shape[2] is None:
        raise UserError("the model's input size is not fixed (input_shape has None sides); "
                        "phone runtimes need one: rebuild it with input_shape=(H, W, 3), e.g. "
                        "--config.dataset.image_size=224, and load the weights into it")
    return int(shape[1]), int(shape[2])


def float32_model(model):
    """`model` computing in float32: a mixed-precision model (bfloat16 or float16 layers) is
    rebuilt from its config with float32 policies and given the same weights, since TFLite's
    float32 and float16 formats and the int8 calibration expect float32 graphs."""
    if all(layer.dtype_policy.compute_dtype == "float32" for layer in model.layers):
        return model
    config = model.get_config()
    _set_float32_policies(config)
    rebuilt = model.__class__.from_config(config)
    rebuilt.set_weights(model.get_weights())
    return rebuilt


def with_input_size(model, size):
    """A functional `model` built for any input size (segmentation) rebuilt at size (height,
    width), with the same weights: phone runtimes and full-integer quantization want one
    static shape, and a fixed size lets pooling and resizing become plain TFLite kernels."""
    config = model.get_config()
    inputs = [layer for layer in config.get("layers", []) if layer["class_name"] == "InputLayer"]
    if len(inputs) != 1:
        raise UserError("only a functional model with one image input can be exported at a "
                        "fixed size; rebuild it with input_shape=(H, W, 3)")
    inputs[0]["config"]["batch_shape"] = [None, int(size[0]), int(size[1]), 3]
    rebuilt = model.__class__.from_config(config)
    rebuilt.set_weights(model.get_weights())
    return rebuilt


def _set_float32_policies(node):
    if isinstance(node, dict):
        if node.get("class_name") in ("DTypePolicy", "FloatDTypePolicy"):
            node["config"]["name"] = "float32"
        for value in node.values():
            _set_float32_policies(value)
    elif isinstance(node, list):
        for value in node:
            _set_float32_policies(value)


class Serving:
    """The serving computation of one model and task: pixels -> dict of named outputs.

    `hook` is the task's export hook (mobilenet_tf.export.hook.ExportHook): it maps the
    model's outputs to the exported ones, in TensorFlow ops for the graph formats and in
    Keras layers for the `.keras` format. input_size (height, width): the size to export a
    model built for any input size at (ignored for a model with a fixed size). labels: the
    run's label map (mobilenet_tf.labels), written next to and into every artifact; None for
    none.
    """

    def __init__(self, model, hook, input_type="uint8", input_size=None, labels=None):
        if input_type not in INPUT_TYPES:
            raise UserError(f"input type '{input_type}' is not one of {', '.join(INPUT_TYPES)}")
        if input_size is not None and not has_fixed_size(model):
            model = with_input_size(model, input_size)
        self.model = float32_model(model)
        self.hook = hook
        self.network = hook.serving_model(self.model)   # what model_outputs calls
        self.input_type = input_type
        self.labels = labels
        self.size = image_size(self.model)
        self._pixels_in = takes_pixels(self.model)

    def model_outputs(self, pixels):
        """float32 (B, H, W, 3) pixels in [0, 255] -> the model's raw outputs (tf tensors), as
        the hook's serving_model gives them."""
        x = pixels if self._pixels_in else pixels / (PIXEL_MAX / 2) - 1.0
        return self.network(x, training=False)

    def outputs(self, pixels):
        """float32 (B, H, W, 3) pixels in [0, 255] -> the task's outputs (tf tensors)."""
        return self.hook.serving_outputs(self.model, self.model_outputs(pixels))

    def spec(self, batch=None, dtype=None):
        """The TensorSpec of the image input: `batch` None for any batch size."""
        return tf.TensorSpec([batch, *self.size, 3], dtype or self.input_type, name=INPUT_NAME)

    def function(self, batch=None, dtype=None, pixel_range=False, raw=False):
        """A tf.function of the signature, traced for (batch, H, W, 3) images of `dtype`.

        pixel_range=True marks the float input as exactly [0, 255] (a fake-quant node), so
        full-integer quantization gives the input scale 1 and zero point 0 (uint8) or -128
        (int8) and an app feeds raw pixels, whatever the calibration images held.
        raw=True stops at the model's own outputs (the task hook's part left out).
        """
        def serve(images):
            pixels = tf.cast(images, tf.float32)
            if pixel_range:
                pixels = tf.quantization.fake_quant_with_min_max_args(
                    pixels, min=0.0, max=PIXEL_MAX, num_bits=8)
            return self.model_outputs(pixels) if raw else self.outputs(pixels)
        return tf.function(serve, input_signature=[self.spec(batch, dtype)], autograph=False)

    def keras_model(self):
        """A Keras model of the signature (images in, named outputs out), built-in layers only,
        so the `.keras` file reloads in safe mode."""
        images = keras.Input((*self.size, 3), dtype=self.input_type, name=INPUT_NAME)
        x = images
        if not self._pixels_in:
            x = keras.layers.Rescaling(2.0 / PIXEL_MAX, offset=-1.0, name="rescaling")(x)
        outputs = self.hook.keras_outputs(self.model, self.network(x))
        return keras.Model(images, outputs, name=f"{self.model.name}_serving")

    def reference(self, images):
        """The Keras model's outputs for a numpy batch of pixels, as float32 numpy arrays."""
        outputs = self.outputs(tf.cast(tf.convert_to_tensor(images), tf.float32))
        return {name: value.numpy() for name, value in outputs.items()}
