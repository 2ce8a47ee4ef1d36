"""Mixed precision is right where train.py sets it up: under mixed_bfloat16 and mixed_float16
the variables stay float32, the logits and the loss are float32, and float16 scales its loss;
and the GPU training benchmark runs with no TensorFlow importable (the lent GPU machine's
setting), on the CPU at a tiny size."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from configs import common
from conftest import REPO_ROOT, jax_env
from mobilenet_tf import engine
from mobilenet_tf.tasks import TASKS

SHAPES_CLASSES = 6


def tiny_config(policy):
    """The Shapes smoke recipe: MobileNetV3-Small 0.25 at 32 px, SGD, batch 8."""
    config = common.smoke(common.base(), steps=1, batch_size=8, image_size=32)
    config.model.width = 0.25
    config.runtime.mixed_precision = policy   # jit_compile "auto": no XLA on the CPU
    return config


def dtype(tensor):
    """A tensor's or variable's dtype as Keras names it ("float32")."""
    return keras.backend.standardize_dtype(tensor.dtype)


@pytest.fixture
def policy_of_train_py(request):
    """Sets the global dtype policy the way engine.train does; float32 again afterwards."""
    policy = engine.choose_precision(request.param, tf.distribute.get_strategy())
    keras.mixed_precision.set_dtype_policy(policy)
    yield policy
    keras.mixed_precision.set_dtype_policy("float32")


@pytest.mark.parametrize("policy_of_train_py", ["mixed_bfloat16", "mixed_float16"],
                         indirect=True)
def test_mixed_policies_keep_float32_state_logits_and_loss(policy_of_train_py):
    policy = policy_of_train_py
    half = policy.split("_")[1]
    config = tiny_config(policy)
    task = TASKS["classification"]
    keras.utils.set_random_seed(0)
    model = engine.prepare_model(task, config, SHAPES_CLASSES, steps_per_epoch=1,
                                 total_steps=1)
    # Mixed is really on: the layers compute in the half type...
    assert model.dtype_policy.name == policy
    convs = [l for l in model.layers if isinstance(l, keras.layers.Conv2D)]
    assert convs and all(l.compute_dtype == half for l in convs)
    # ...while every variable, the optimizer's included, stays float32.
    dtypes = {dtype(v) for v in model.variables + model.optimizer.variables}
    assert dtypes - {"int64"} == {"float32"}   # int64: the step counters

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (8, 32, 32, 3), dtype=np.uint8)
    labels = rng.integers(0, SHAPES_CLASSES, 8).astype("int32")
    logits = model(images, training=False)
    assert dtype(logits) == "float32"
    loss = model.compute_loss(images, labels, logits)
    assert dtype(loss) == "float32"

    is_scaled = isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert is_scaled == (half == "float16")   # bfloat16 has float32's range: no scaling
    if is_scaled:   # Keras 3's dynamic loss scale: starts at 2^15 and multiplies the loss
        scale = float(model.optimizer.dynamic_scale)
        assert scale > 1.0
        np.testing.assert_allclose(float(model.optimizer.scale_loss(loss)),
                                   scale * float(loss), rtol=1e-3)
    logs = model.train_on_batch(images, labels, return_dict=True)
    assert np.isfinite(logs["loss"])
    assert int(model.optimizer.iterations) == 1   # the step was applied, not skipped
    if is_scaled:
        assert float(model.optimizer.dynamic_scale) > 1.0


NO_TENSORFLOW = '''
import atexit, sys

class NoTensorFlow:
    """Makes `import tensorflow` fail, as on the GPU machine, which has none."""
    def find_spec(self, name, path=None, target=None):
        if name == "tensorflow" or name.startswith("tensorflow."):
            raise ImportError("tensorflow is blocked in this test")

sys.meta_path.insert(0, NoTensorFlow())
atexit.register(lambda: print("TENSORFLOW_LOADED",
                              any(m.split(".")[0] == "tensorflow" for m in sys.modules)))
'''


@pytest.mark.slow   # ~20 s alone on 2 cores (V1's variables built under JAX, one compile)
def test_train_throughput_runs_under_jax_without_tensorflow(tmp_path):
    (tmp_path / "sitecustomize.py").write_text(NO_TENSORFLOW)
    out = tmp_path / "figures.json"
    env = jax_env(PYTHONPATH=f"{tmp_path}{os.pathsep}{REPO_ROOT}")
    command = [sys.executable, os.path.join(REPO_ROOT, "benchmarks", "train_throughput.py"),
               "--models=v1", "--peers=ours,torchvision_eager", "--precision=float32",
               "--batch_size=2", "--image_size=32", "--steps=2", "--warmup=1", "--rounds=1",
               f"--json_out={out}"]
    proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300,
                          cwd=REPO_ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "TENSORFLOW_LOADED False" in proc.stdout
    assert "| v1 | ours (jax, k=1) | float32 | 2 | 32x32 |" in proc.stdout
    record = json.loads(out.read_text())
    ours, torch_row = record["results"]
    assert ours["img_per_s"] > 0 and np.isfinite(ours["loss"])
    assert "note" in torch_row   # torchvision has no V1 (and torch may not be installed)
    assert record["runs"][0]["backend"] == "jax"
