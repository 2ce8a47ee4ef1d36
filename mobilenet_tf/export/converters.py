"""Writers for each export format. Each writes under a temporary name and renames the
result into place when complete, so an interrupted or failed export leaves nothing
half-written, and a conversion failure becomes a UserError naming the op and layer. The
run's label map (Serving.labels) goes into every artifact (mobilenet_tf.labels).

    saved_model      TensorFlow SavedModel, signature `serving_default`, any batch size
    tflite_float32   LiteRT flatbuffer, float32, batch 1
    tflite_float16   float16 weights (half the size), computed in float32 on CPUs
    tflite_dynamic   int8 weights, activations quantized on the fly
    tflite_int8      full-integer post-training quantization, int8 or uint8 input/output
    onnx             tf2onnx, then ONNX Runtime's hardware-independent graph clean-up
    keras            a .keras model of the signature (reloads in safe mode)
"""
import contextlib
import logging
import os
import shutil
import tempfile

import keras
import tensorflow as tf

from mobilenet_tf import UserError, labels
from mobilenet_tf.export import errors, graph

FILENAMES = {
    "saved_model": "saved_model",
    "tflite_float32": "model_float32.tflite",
    "tflite_float16": "model_float16.tflite",
    "tflite_dynamic": "model_dynamic.tflite",
    "tflite_int8": "model_int8.tflite",
    "onnx": "model.onnx",
    "keras": "model.keras",
}
FORMATS = tuple(FILENAMES)
TFLITE_FORMATS = tuple(fmt for fmt in FORMATS if fmt.startswith("tflite_"))
INT8_IO_TYPES = ("uint8", "int8")
# How tflite_int8 writes h-swish: "elementwise" (relu6(x + 3) * (x / 6): an ADD with a fused
# RELU6 and two MULs, which XNNPACK, LiteRT's CPU delegate on phones and desktops, runs in
# int8) or "kernel" (the fused HARD_SWISH op: XNNPACK has no int8 one, so each h-swish
# cuts the delegated graph and runs on LiteRT's slower built-in kernel; for runtimes whose
# int8 kernels have it). Float formats always get the HARD_SWISH kernel.
INT8_HARD_SWISH_FORMS = ("elementwise", "kernel")
ONNX_OPSET = 17   # ONNX Runtime 1.16+ and TensorRT 8.6+ read it


def write(fmt, serving, output_dir, *, representative=None, int8_io="uint8",
          int8_hard_swish="elementwise"):
    """Exports `serving` in format `fmt` into output_dir; returns the artifact's path.

    representative: for tflite_int8, a callable returning an iterable of (1, H, W, 3)
    float32 pixel batches drawn from the training split (calibration). int8_hard_swish: one
    of INT8_HARD_SWISH_FORMS.
    """
    if fmt not in FILENAMES:
        raise UserError(f"unknown format '{fmt}'; choose from {', '.join(FORMATS)}")
    path = os.path.join(output_dir, serving.hook.filename(fmt))
    with _atomic(path) as partial:
        if fmt == "saved_model":
            _saved_model(serving, partial)
        elif fmt.startswith("tflite_"):
            content = tflite_bytes(serving, fmt, representative=representative, int8_io=int8_io,
                                   int8_hard_swish=int8_hard_swish)
            with open(partial, "wb") as f:
                f.write(content)
        elif fmt == "onnx":
            _onnx(serving, partial)
        else:
            serving.keras_model().save(partial)
        if serving.labels and fmt in ("keras",) + TFLITE_FORMATS:
            labels.append_to_archive(partial, serving.labels)
    return path


@contextlib.contextmanager
def _atomic(path):
    """Yields a temporary path next to `path` (same extension, so writers that check it are
    happy); on success it replaces `path`, on failure it is removed."""
    root, ext = os.path.splitext(path)
    partial = f"{root}.partial{ext}"
    _remove(partial)
    try:
        yield partial
    except BaseException:
        _remove(partial)
        raise
    if os.path.isdir(path):   # os.replace cannot replace a non-empty directory
        stale = f"{root}.stale{ext}"
        _remove(stale)
        os.replace(path, stale)
        os.replace(partial, path)
        _remove(stale)
    else:
        os.replace(partial, path)


def _remove(path):
    if os.path.isdir(path):
        shutil.rmtree(path)
    elif os.path.exists(path):
        os.remove(path)


def _saved_model(serving, path):
    """SavedModel with the model's variables and one signature, `serving_default`. A bare
    tf.Module holding the variables: it saved in half the time of Keras's ExportArchive."""
    module = tf.Module()
    module.variables_ = [variable.value for variable in serving.model.variables]
    module.serve = serving.function()
    with tempfile.TemporaryDirectory() as scratch:
        if serving.labels:   # copied into saved_model/assets/labels.json
            labels.write(scratch, serving.labels)
            module.labels = tf.saved_model.Asset(os.path.join(scratch, labels.FILENAME))
        with errors.explained("saved_model", serving.model):
            tf.saved_model.save(module, path, signatures={"serving_default": module.serve})


def tflite_bytes(serving, fmt, *, representative=None, int8_io="uint8",
                 int8_hard_swish="elementwise"):
    """The LiteRT flatbuffer of `serving` for one of the tflite_* formats (batch 1: the
    static shape phone delegates want)."""
    int8 = fmt == "tflite_int8"
    if int8 and representative is None:
        raise UserError("tflite_int8 needs representative images from the training split")
    if int8 and int8_io not in INT8_IO_TYPES:
        raise UserError(f"int8 input/output type must be uint8 or int8, got '{int8_io}'")
    if int8_hard_swish not in INT8_HARD_SWISH_FORMS:
        raise UserError(f"int8 h-swish form must be one of {', '.join(INT8_HARD_SWISH_FORMS)}, "
                        f"got '{int8_hard_swish}'")
    with (hard_swish_as(serving.model, _hard_swish_elementwise)
          if int8 and int8_hard_swish == "elementwise" else contextlib.nullcontext()):
        return _tflite_bytes(serving, fmt, representative, int8_io)


def _hard_swish_elementwise(x):
    # x / 6 as a multiply: the converter keeps this form unfused (x * relu6(x + 3) / 6 would
    # become HARD_SWISH again).
    return keras.ops.relu6(x + 3.0) * (x * (1.0 / 6.0))


@contextlib.contextmanager
def hard_swish_as(model, function):
    """Within the block the model's h-swish activation layers compute `function` when
    traced: _hard_swish_elementwise (the same function as elementwise ops; see
    INT8_HARD_SWISH_FORMS), or, to time what h-swish costs, another activation."""
    swapped = [layer for layer in model._flatten_layers()
               if isinstance(layer, keras.layers.Activation)
               and graph.activation_name(layer) in graph.HARD_SWISH_NAMES]
    originals = [layer.activation for layer in swapped]
    for layer in swapped:
        layer.activation = function
    try:
        yield model
    finally:
        for layer, activation in zip(swapped, originals):
            layer.activation = activation


def _tflite_bytes(serving, fmt, representative, int8_io):
    int8 = fmt == "tflite_int8"
    # int8: a float input marked as exactly [0, 255], quantized by the converter to the
    # requested integer type; raw pixels in (uint8), pixels - 128 (int8).
    # A hook with tflite_outputs (detection) adds its part (the NMS op) to the model's raw
    # outputs, traced as it is (see with_constant_weights).
    after = serving.hook.tflite_outputs
    function = serving.function(batch=1, dtype="float32" if int8 else None, pixel_range=int8,
                                raw=after is not None)
    spec = serving.spec(1, "float32" if int8 else None)
    with errors.explained(fmt, serving.model, function):
        concrete = with_constant_weights(
            serving.model, function, spec,
            after=after and (lambda outputs: after(serving.model, outputs, int8)))
        converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete], tf.Module())
        converter.allow_custom_ops = serving.hook.tflite_custom_ops
        if fmt != "tflite_float32":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if fmt == "tflite_float16":
            converter.target_spec.supported_types = [tf.float16]
        if int8:
            converter.representative_dataset = lambda: ([x] for x in representative())
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            converter.inference_input_type = tf.as_dtype(int8_io)
            if not serving.hook.tflite_float_outputs:
                converter.inference_output_type = tf.as_dtype(int8_io)
        return converter.convert()


def with_constant_weights(model, function, spec, after=None):
    """The concrete function of the tf.function `function` (of `spec`) traced with every
    variable of `model` read as a constant (keras.StatelessScope), then `after` on its outputs
    when given: the frozen graph TFLiteConverter.from_concrete_functions wants, which would
    otherwise keep Keras 3's resource variables as VAR_HANDLE ops and leave batch norm unfolded.

    Traced this way rather than frozen after tracing (convert_variables_to_constants_v2), which
    took 35-53% of each conversion's CPU time for the same outputs
    (benchmarks/tflite_conversion.py). `after` (detection's TFLite NMS op) is traced as it
    is: a custom op's placeholder function must stay one, not be inlined."""
    variables = model.variables
    values = [variable.numpy() for variable in variables]

    def constant_weights(images):
        mapping = [(variable, tf.constant(value)) for variable, value in zip(variables, values)]
        with keras.StatelessScope(state_mapping=mapping):
            outputs = function.python_function(images)
        return outputs if after is None else after(outputs)

    return tf.function(constant_weights, input_signature=[spec],
                       autograph=False).get_concrete_function()


def _onnx(serving, path):
    """tf2onnx conversion of the signature (any batch size), checked op by op, then
    ONNX Runtime's basic (hardware-independent) optimisation pass: tf2onnx 1.17's
    transpose optimiser gives up on the scalar adds of h-swish and leaves an NHWC<->NCHW
    Transpose around every convolution, which that pass removes."""
    try:
        import onnx
        import onnxruntime
        import tf2onnx
    except ImportError as error:
        raise UserError(f"--format=onnx needs tf2onnx, onnx and onnxruntime ({error}); "
                        "pip install -r requirements.txt") from None
    function = serving.function()
    with errors.explained("onnx", serving.model), _quiet_logger("tf2onnx"):
        proto, _ = tf2onnx.convert.from_function(function, input_signature=[serving.spec()],
                                                 opset=ONNX_OPSET)
    errors.check_onnx_ops(proto, serving.model)
    with tempfile.TemporaryDirectory() as scratch:
        raw, optimized = os.path.join(scratch, "raw.onnx"), os.path.join(scratch, "opt.onnx")
        onnx.save(proto, raw)
        options = onnxruntime.SessionOptions()
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_BASIC
        options.optimized_model_filepath = optimized
        onnxruntime.InferenceSession(raw, options, providers=["CPUExecutionProvider"])
        model = onnx.load(optimized)
    # ONNX Runtime declares every domain it knows; keep the ones the graph uses.
    used = {node.domain for node in model.graph.node} | {""}
    kept = [opset for opset in model.opset_import if opset.domain in used]
    del model.opset_import[:]
    model.opset_import.extend(kept)
    if serving.labels:
        entry = model.metadata_props.add()
        entry.key, entry.value = labels.ONNX_KEY, labels.to_json(serving.labels)
    onnx.checker.check_model(model)
    onnx.save(model, path)


@contextlib.contextmanager
def _quiet_logger(name):
    """tf2onnx logs every step (and the transpose optimiser's traceback) at INFO/WARNING."""
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)
