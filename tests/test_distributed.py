"""Two local workers (MultiWorkerMirroredStrategy over localhost, on CPU) stay in sync and
train exactly as one worker with the same global batch."""
import json
import os
import socket
import subprocess
import sys

import keras
import numpy as np
import pytest
from conftest import run_here

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# No shuffling, no augmentation and no dropout, so the two workers' halves of every global
# batch are exactly the examples of the single worker's batch; synchronized batch norm, so
# the statistics are over the global batch too.
FLAGS = ["--model=v3_small", "--config.model.width=0.35", "--config.dataset.image_size=32",
         "--config.dataset.options.num_examples=96", "--config.dataset.augment=False",
         "--config.model.dropout=0.0", "--config.model.sync_batch_norm=True",
         "--batch_size=16", "--steps=4", "--seed=3", "--config.optimizer.name=sgd",
         "--config.optimizer.learning_rate=0.05", "--config.schedule.name=constant",
         "--config.schedule.warmup_epochs=0"]


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _env(tf_config=None):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    env.pop("TF_CONFIG", None)
    env.pop("TF_NUM_INTEROP_THREADS", None)   # conftest's 1: collectives need concurrent ops
    if tf_config:
        env["TF_CONFIG"] = json.dumps(tf_config)
    return env


def _weights(path):
    return keras.saving.load_model(path, compile=False).get_weights()


@pytest.mark.slow
def test_two_workers_stay_in_sync_and_match_one_worker(tmp_path):
    workers = [f"localhost:{port}" for port in _free_ports(2)]
    model_dir = tmp_path / "two_workers"
    logs = [open(tmp_path / f"worker{i}.log", "w+") for i in range(2)]   # not pipes: a full
    processes = [                                                         # pipe stalls a worker
        subprocess.Popen(
            [sys.executable, "train.py", *FLAGS, "--distribution=multi_worker",
             f"--model_dir={model_dir}"], cwd=REPO, stdout=logs[i], stderr=subprocess.STDOUT,
            env=_env({"cluster": {"worker": workers}, "task": {"type": "worker", "index": i}}))
        for i in range(2)]
    # The one-worker reference in this process, while the workers run (run_here: no second
    # TensorFlow start-up).
    code, errors = run_here("train.py", *FLAGS, "--distribution=one_device",
                            f"--model_dir={tmp_path / 'one_worker'}")
    for process in processes:
        process.wait(timeout=600)
    outputs = [(tmp_path / f"worker{i}.log").read_text() for i in range(2)]
    for process, output in zip(processes, outputs):
        assert process.returncode == 0, output[-3000:]
    assert code in (0, None), errors[-3000:]
    assert "with 2 replica(s)" in outputs[0]

    chief = _weights(model_dir / "final.keras")
    other = _weights(model_dir / "workers" / "1" / "final.keras")
    alone = _weights(tmp_path / "one_worker" / "final.keras")
    # Same as one worker up to float32 rounding: the synchronised batch statistics are summed
    # across workers in another order (and as E[x^2] - E[x]^2) than one worker's, and the
    # difference grows over the steps. Without synchronised batch norm the largest weight
    # difference is about 0.5; with it, about 1e-3.
    for a, b, c in zip(chief, other, alone):
        np.testing.assert_array_equal(a, b)                       # in sync
        np.testing.assert_allclose(a, c, rtol=0, atol=5e-3)       # same as one worker
    metrics = [json.loads((d / "final_metrics.json").read_text())
               for d in (model_dir, tmp_path / "one_worker")]
    assert [m["step"] for m in metrics] == [4, 4]
    assert metrics[0]["loss"] == pytest.approx(metrics[1]["loss"], abs=2e-3)
