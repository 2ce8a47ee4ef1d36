"""The models are backend-agnostic: they build, run and train a step under JAX, with
TensorFlow not importable at all (the lent GPU machine has none)."""

import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO_ROOT, jax_env

# Prepended to the scripts below: `import tensorflow` fails, as on a machine without it.
BLOCK_TENSORFLOW = r'''
import sys

class NoTensorFlow:
    """Makes `import tensorflow` fail, as on a machine without it."""
    def find_spec(self, name, path=None, target=None):
        if name == "tensorflow" or name.startswith("tensorflow."):
            raise ImportError("tensorflow is blocked in this test")

sys.meta_path.insert(0, NoTensorFlow())
'''

JAX_SCRIPT = BLOCK_TENSORFLOW + r'''
import json
import keras
import numpy as np
from mobilenet_tf.models import build, names

MODEL_NAMES = names("classification")

result = {"backend": keras.backend.backend(), "shapes": {}}
x = np.random.default_rng(0).uniform(-1, 1, (2, 72, 72, 3)).astype("float32")
for name in MODEL_NAMES:
    options = {"width": 0.35} if name.startswith("mobilenet") else {}
    model = build(name, input_shape=(72, 72, 3), num_classes=5, **options)
    # predict_on_batch: one jitted call (op by op, JAX compiles every op's shapes: 3x slower).
    logits = np.asarray(model.predict_on_batch(x))
    result["shapes"][name] = [list(logits.shape), bool(np.isfinite(logits).all())]
    # The feature extractors reuse the same layers, so one runs eagerly (V2, with its
    # C4_expand tap) and the others are checked as built: halves this test's time.
    features = build(name, features_only=True, input_shape=(72, 72, 3), **options)
    outputs = features.predict_on_batch(x) if name == "mobilenet_v2" else features.output
    result["shapes"][name + ":features"] = sorted(outputs)

# With stochastic depth: its per-sample draws run in the jitted train step too.
model = build("v3_small", width=0.35, input_shape=(72, 72, 3), num_classes=5, dropout=0.0,
              drop_path_rate=0.2)
result["drop_path_layers"] = sum("drop_path" in layer.name for layer in model.layers)
model.compile(optimizer=keras.optimizers.SGD(0.05),
              loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
y = np.array([1, 3])
losses = [float(model.train_on_batch(x, y)) for _ in range(5)]
result["losses"] = losses
result["tensorflow_loaded"] = any(m.startswith("tensorflow") for m in sys.modules)
print("RESULT " + json.dumps(result))
'''


@pytest.mark.slow
def test_every_model_runs_and_trains_under_jax_without_tensorflow():
    env = jax_env()
    proc = subprocess.run([sys.executable, "-c", JAX_SCRIPT], env=env, capture_output=True,
                          text=True, timeout=600, cwd=REPO_ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(l for l in proc.stdout.splitlines() if l.startswith("RESULT "))
    result = json.loads(line[len("RESULT "):])
    assert result["backend"] == "jax"
    assert not result["tensorflow_loaded"]
    for name in ("mobilenet_v1", "mobilenet_v2", "mobilenet_v3_large", "mobilenet_v3_small",
                 "xception", "squeezenet1_0", "squeezenet1_1"):
        assert result["shapes"][name] == [[2, 5], True], name
        assert "C4" in result["shapes"][name + ":features"]
    losses = result["losses"]
    assert all(l == l for l in losses) and losses[-1] < losses[0]
    assert result["drop_path_layers"] == 7   # one on each of V3-Small's residual blocks


@pytest.mark.slow
def test_train_py_under_jax_trains_data_parallel_over_two_devices(tmp_path):
    # Two host devices stand in for two GPUs: keras.distribution.DataParallel splits each
    # global batch of 16 over them, and the train step is jitted (op by op it is 50x slower).
    env = jax_env(TF_CPP_MIN_LOG_LEVEL="3", XLA_FLAGS="--xla_force_host_platform_device_count=2")
    proc = subprocess.run(
        [sys.executable, "train.py", "--model=v1", "--config.model.width=0.25",
         "--config.dataset.image_size=32", "--config.dataset.options.num_examples=96",
         "--batch_size=16", "--steps=6", f"--model_dir={tmp_path}"],
        env=env, capture_output=True, text=True, timeout=600, cwd=REPO_ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "keras.distribution.DataParallel over 2 JAX devices" in proc.stderr
    final = json.loads((tmp_path / "final_metrics.json").read_text())
    assert final["step"] == 6 and final["loss"] == final["loss"]   # trained, finite
    assert (tmp_path / "final.keras").exists()


IMPORT_SCRIPT = BLOCK_TENSORFLOW + r'''
import importlib, json, pkgutil
import numpy as np
from keras import ops

names = ["mobilenet_tf.metrics"]
for package in ("mobilenet_tf.models", "mobilenet_tf.heads", "mobilenet_tf.detection"):
    module = importlib.import_module(package)
    names += [package] + [f"{package}.{m.name}" for m in pkgutil.iter_modules(module.__path__)]
for name in names:
    importlib.import_module(name)

from mobilenet_tf import metrics
from mobilenet_tf.detection import box_coder
boxes = np.array([[0.0, 0.0, 0.5, 0.5], [0.0, 0.25, 0.5, 0.75]], "float32")
anchors = np.array([[0.25, 0.25, 0.5, 0.5], [0.25, 0.5, 0.5, 0.5]], "float32")
confusion = np.array([[3.0, 1.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 0.0]], "float32")
result = {
    "modules": names,
    "iou": ops.convert_to_numpy(box_coder.pairwise_iou(boxes, boxes)).tolist(),
    "decoded": ops.convert_to_numpy(
        box_coder.decode(box_coder.encode(boxes, anchors), anchors)).tolist(),
    "miou": float(metrics.confusion_scores(ops.convert_to_numpy(confusion))["mIoU"]),
    "tensorflow_loaded": any(m.startswith("tensorflow") for m in sys.modules),
}
print("RESULT " + json.dumps(result))
'''


def test_models_heads_detection_and_metrics_import_and_run_without_tensorflow():
    # docs/ARCHITECTURE.md: models, heads, detection and metrics never import TensorFlow.
    env = jax_env()
    proc = subprocess.run([sys.executable, "-c", IMPORT_SCRIPT], env=env, capture_output=True,
                          text=True, timeout=300, cwd=REPO_ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(l for l in proc.stdout.splitlines() if l.startswith("RESULT "))
    result = json.loads(line[len("RESULT "):])
    assert not result["tensorflow_loaded"]
    for name in ("mobilenet_tf.models.mobilenet_v3", "mobilenet_tf.heads.ssdlite",
                 "mobilenet_tf.detection.box_coder", "mobilenet_tf.detection.losses",
                 "mobilenet_tf.detection.postprocess", "mobilenet_tf.metrics"):
        assert name in result["modules"]
    assert "mobilenet_tf.detection.target_assigner" not in result["modules"]   # in data/
    np.testing.assert_allclose(result["iou"], [[1.0, 1 / 3], [1 / 3, 1.0]], rtol=1e-6)
    np.testing.assert_allclose(result["decoded"], [[0.0, 0.0, 0.5, 0.5],
                                                   [0.0, 0.25, 0.5, 0.75]], atol=1e-6)
    assert abs(result["miou"] - (0.75 + 2 / 3) / 2) < 1e-6
