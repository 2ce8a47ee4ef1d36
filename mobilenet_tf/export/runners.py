"""Load an exported artifact and run it: each runner takes a numpy batch of uint8 pixels
and returns the signature's outputs as float32 numpy arrays (integer outputs dequantized),
so every format is compared with the Keras model the same way. TFLite files run in the
LiteRT interpreter (ai-edge-litert; tf.lite.Interpreter is deprecated), ONNX files in
ONNX Runtime; both also time one image at a given thread count."""
import collections
import os
import time

import numpy as np
import tensorflow as tf

from mobilenet_tf.export.serving import INPUT_NAME

BATCH = 64   # images per call for the formats that take any batch size


def all_threads():
    """The CPU cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def load(fmt, path, input_type="uint8", threads=None):
    """The runner for artifact `path` of format `fmt`; threads: the LiteRT interpreter's
    (default all_threads())."""
    if fmt.startswith("tflite_"):
        return TFLiteRunner(path, threads)
    if fmt == "onnx":
        return OnnxRunner(path, input_type)
    if fmt == "saved_model":
        return SavedModelRunner(path, input_type)
    return KerasRunner(path, input_type)


def _batches(images):
    for start in range(0, len(images), BATCH):
        yield images[start:start + BATCH]


def _concat(parts):
    return {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}


def _median_ms(step, runs, warmup=5):
    for _ in range(warmup):
        step()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return 1000.0 * float(np.median(times))


class TFLiteRunner:
    """A .tflite file in the LiteRT interpreter, one image per invoke (batch 1)."""

    def __init__(self, path, threads=None):
        from ai_edge_litert.interpreter import Interpreter
        self._interpreter_class = Interpreter
        self.path = path
        self.interpreter = self._interpreter(threads=threads or all_threads())
        self.input = self.interpreter.get_input_details()[0]
        self.outputs = self.interpreter.get_signature_runner().get_output_details()

    def _interpreter(self, threads):
        interpreter = self._interpreter_class(model_path=self.path, num_threads=threads)
        interpreter.allocate_tensors()
        return interpreter

    def encode(self, image):
        """(H, W, 3) pixels -> the input tensor's (1, H, W, 3) array (quantized when the
        input is an integer tensor with a scale, i.e. the int8 formats)."""
        dtype = self.input["dtype"]
        scale, zero_point = self.input["quantization"]
        x = image[None].astype(np.float32)
        if np.issubdtype(dtype, np.integer) and scale:
            info = np.iinfo(dtype)
            x = np.clip(np.round(x / scale + zero_point), info.min, info.max)
        return x.astype(dtype)

    def __call__(self, images):
        runner = self.interpreter.get_signature_runner()
        parts = []
        for image in images:
            raw = runner(**{INPUT_NAME: self.encode(image)})
            parts.append({name: self._decode(name, value) for name, value in raw.items()})
        return _concat(parts)

    def _decode(self, name, value):
        scale, zero_point = self.outputs[name]["quantization"]
        if np.issubdtype(value.dtype, np.integer) and scale:
            return ((value.astype(np.float32) - zero_point) * scale).astype(np.float32)
        return value.astype(np.float32)

    def latency_ms(self, image, threads, runs):
        """Median milliseconds of one invoke on `image` with `threads` threads."""
        interpreter = self._interpreter(threads)
        index = interpreter.get_input_details()[0]["index"]
        interpreter.set_tensor(index, self.encode(image))
        return _median_ms(interpreter.invoke, runs)


def xnnpack_partitions(path):
    """(partitions, {op: count}) of a .tflite file in the LiteRT interpreter as it runs by
    default: how many subgraphs the XNNPACK delegate took, and the ops it left to LiteRT's
    built-in kernels (inside the network each one splits the delegated graph and runs
    slower). One partition is the whole network on XNNPACK; left beside it are ops at the
    input and output (CAST of uint8 pixels, int8's QUANTIZE and SOFTMAX) and detection's NMS
    custom op."""
    from ai_edge_litert.interpreter import Interpreter
    interpreter = Interpreter(model_path=path, num_threads=1)
    interpreter.allocate_tensors()
    # The interpreter lists the file's ops and, after them, one DELEGATE node per partition;
    # an op belongs to a partition when it lies between that node's inputs and outputs.
    ops = interpreter._get_ops_details()
    delegates = [op for op in ops if op["op_name"] == "DELEGATE"]
    original = [op for op in ops if op["op_name"] != "DELEGATE"]
    producer = {tensor: op["index"] for op in original for tensor in op["outputs"]}
    by_index = {op["index"]: op for op in original}
    covered = set()
    for delegate in delegates:
        boundary, stack = set(delegate["inputs"]), list(delegate["outputs"])
        while stack:
            tensor = stack.pop()
            index = producer.get(tensor)
            if tensor in boundary or index is None or index in covered:
                continue
            covered.add(index)
            stack.extend(by_index[index]["inputs"])
    left = collections.Counter(op["op_name"] for op in original if op["index"] not in covered)
    return len(delegates), dict(left)


def describe_partitions(partitions, left):
    """xnnpack_partitions' result in a few words: "1", "1 + QUANTIZE x2, SOFTMAX"."""
    ops = ", ".join(f"{name} x{count}" if count > 1 else name
                    for name, count in sorted(left.items()))
    return f"{partitions} + {ops}" if ops else str(partitions)


class OnnxRunner:
    """A .onnx file in ONNX Runtime (CPU)."""

    def __init__(self, path, input_type):
        self.path, self.input_type = path, input_type
        self.session = self._session(all_threads())

    def _session(self, threads):
        import onnxruntime
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        return onnxruntime.InferenceSession(self.path, options,
                                            providers=["CPUExecutionProvider"])

    def __call__(self, images):
        names = [output.name for output in self.session.get_outputs()]
        parts = [dict(zip(names, self.session.run(None, {INPUT_NAME: batch.astype(
            self.input_type)}))) for batch in _batches(images)]
        return _concat(parts)

    def latency_ms(self, image, threads, runs):
        """Median milliseconds of one run on a batch of one `image` with `threads` threads."""
        session = self._session(threads)
        feed = {INPUT_NAME: image[None].astype(self.input_type)}
        return _median_ms(lambda: session.run(None, feed), runs)


class SavedModelRunner:
    """A SavedModel's serving_default signature in TensorFlow."""

    def __init__(self, path, input_type):
        self.signature = tf.saved_model.load(path).signatures["serving_default"]
        self.input_type = input_type

    def __call__(self, images):
        return _concat([{name: value.numpy() for name, value in self.signature(
            **{INPUT_NAME: tf.constant(batch.astype(self.input_type))}).items()}
            for batch in _batches(images)])


class KerasRunner:
    """A .keras file, reloaded in safe mode."""

    def __init__(self, path, input_type):
        import keras
        self.model = keras.saving.load_model(path, safe_mode=True, compile=False)
        self.input_type = input_type

    def __call__(self, images):
        return _concat([{name: np.asarray(value) for name, value in self.model(
            batch.astype(self.input_type), training=False).items()}
            for batch in _batches(images)])
