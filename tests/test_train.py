"""train.py and evaluate.py end to end, on tiny Shapes runs: resume after kill -9, NaN,
bad input, mixed precision, fine-tuning from keras.applications weights, TensorBoard."""
import json
import os
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

from conftest import evaluated_metrics, run_here, run_main, run_script as run
from mobilenet_tf import UserError
from mobilenet_tf.tasks import TASKS, classification
from mobilenet_tf.data import shapes

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# A V1 0.25 (the quickest model to trace) on 32x32 Shapes, 96 training examples: 6 steps of
# 16 per epoch.
TINY = ["--model=v1", "--config.model.width=0.25", "--config.dataset.image_size=32",
        "--config.dataset.options.num_examples=96", "--batch_size=16", "--seed=1",
        "--config.train.log_every_steps=2"]


def final_weights(model_dir):
    model = keras.saving.load_model(os.path.join(model_dir, "final.keras"), compile=False)
    return [np.asarray(w) for w in model.get_weights()]


@pytest.mark.slow
def test_a_run_killed_after_a_checkpoint_resumes_to_the_same_state(tmp_path):
    # No dropout: its random masks are not part of the checkpoint, so after a restart they
    # differ; everything else (data order, augmentation, optimizer state) is the same.
    flags = [*TINY, "--epochs=3", "--config.train.checkpoint_every_steps=2",
             "--config.model.dropout=0.0"]
    # The two whole runs in this process (run_here: no TensorFlow start-up); the one killed
    # with SIGKILL in its own.
    code, stderr = run_here("train.py", *flags, f"--model_dir={tmp_path / 'whole'}")
    assert code in (0, None), stderr[-2000:]

    model_dir = tmp_path / "killed"
    index = model_dir / "checkpoints" / "checkpoint.json"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    process = subprocess.Popen([sys.executable, "train.py", *flags, f"--model_dir={model_dir}"],
                               cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    while not index.exists() and process.poll() is None:
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    killed_at = json.loads(index.read_text())["step"]
    assert 0 < killed_at < 18

    code, stderr = run_here("train.py", *flags, f"--model_dir={model_dir}")
    assert code in (0, None), stderr[-2000:]
    assert "resumed from" in stderr
    final = json.loads((model_dir / "final_metrics.json").read_text())
    assert final["step"] == 18   # 3 epochs of 6 steps: none lost, none repeated
    state = json.loads(index.read_text())
    assert state["epoch"] == 2 and state["epoch_complete"]
    # Same batches in the same order after the restart: the same weights at the end.
    for ours, theirs in zip(final_weights(model_dir), final_weights(tmp_path / "whole")):
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)
    whole_metrics = json.loads((tmp_path / "whole" / "final_metrics.json").read_text())
    assert final["top1"] == pytest.approx(whole_metrics["top1"], abs=1e-6)
    assert final["loss"] == pytest.approx(whole_metrics["loss"], rel=1e-4)


def test_nan_loss_stops_with_one_line_and_keeps_the_last_good_checkpoint(tmp_path):
    code, stderr = run_here("train.py", *TINY, "--steps=12", f"--model_dir={tmp_path}",
                            "--config.train.checkpoint_every_steps=1",
                            "--config.optimizer.name=sgd", "--config.optimizer.learning_rate=1e25",
                            "--config.schedule.name=constant", "--config.schedule.warmup_epochs=0")
    assert code == 1
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("error: the loss became NaN or infinite at step"), last
    assert "Traceback" not in stderr
    index = json.loads((tmp_path / "checkpoints" / "checkpoint.json").read_text())
    model = TASKS["classification"].build_model(_tiny_config(), num_classes=6)
    model.load_weights(tmp_path / "checkpoints" / index["file"], skip_mismatch=True)
    assert all(np.isfinite(w).all() for w in model.get_weights())
    assert not list((tmp_path / "checkpoints").glob("*partial*"))


def _tiny_config():
    from mobilenet_tf import config as config_lib
    config = config_lib.load_recipe("configs/shapes_cls.py")
    config_lib.apply_overrides(config, ["model.name=mobilenet_v1", "model.width=0.25",
                                        "dataset.image_size=32"])
    return config



@pytest.mark.parametrize("args, message", [
    (["--model=mobilenet_v9"], "error: unknown model 'mobilenet_v9'; valid names: "),
    (["--dataset=imagenet", "--data_dir=/nonexistent/imagenet"],
     "error: --data_dir /nonexistent/imagenet does not exist; put the TFRecord shards "),
    (["--dataset=cifar"], "error: unknown classification dataset 'cifar'; choose one of "
                        "imagenet, folder, shapes, tfds:NAME"),
    (["--config.optimizer.lr=0.1"], "error: config has no field 'optimizer.lr'"),
    (["--batch_size=many"], "error: "),
    (["--modle=v2"], "error: Unknown command line flag 'modle'"),
    (["--steps=5", "--epochs=2"], "error: give --epochs or --steps, not both"),
    (["--freeze_backbone"], "error: --freeze_backbone trains only a new head"),
    (["--config=configs/absent.py"], "error: config file configs/absent.py not found"),
    (["--config.optimizer.name=lamb"], "error: optimizer.name='lamb' is not one of"),
    (["--config.dataset.autotune=yes"], "error: dataset.autotune must be one of auto, on, off"),
])
def test_bad_input_is_one_line_and_exit_code_2(train_main, capsys, monkeypatch, args, message):
    code, lines = run_main(train_main, monkeypatch, capsys,
                           [*args, "--model_dir=/tmp/never-written"])
    assert code == 2, lines
    assert len(lines) == 1 and lines[0].startswith(message), lines
    assert not os.path.exists("/tmp/never-written")


def test_batch_not_divisible_by_replicas_is_a_user_error():
    from mobilenet_tf import engine

    class TwoReplicas:
        num_replicas_in_sync = 2

    config = _tiny_config()
    config.train.batch_size = 15
    with pytest.raises(UserError, match="batch size 15 does not divide over 2 replicas"):
        engine.distributed_inputs(classification, config, TwoReplicas(), "train", True)


def test_short_run_writes_models_config_tensorboard_and_evaluates_the_same(tmp_path):
    result = run("train.py", *TINY, "--steps=8", f"--model_dir={tmp_path}",
                 "--mixed_precision=mixed_bfloat16", "--config.train.ema_decay=0.9",
                 "--config.optimizer.learning_rate=0.01")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "precision: mixed_bfloat16" in result.stderr
    # Output to a pipe reads as a log file: Keras's one line per epoch, no carriage returns
    # or colour codes, and none of TensorFlow's start-up lines (mobilenet_tf/startup.py).
    for text in (result.stdout, result.stderr):
        assert "\r" not in text and "\x1b[" not in text, text[-800:]
    assert "InitializeLog" not in result.stderr and "oneDNN" not in result.stderr
    assert "INFO:" not in result.stderr
    written = json.loads((tmp_path / "config.json").read_text())
    assert written["optimizer"]["learning_rate"] == 0.01   # the override, as run
    assert written["runtime"]["mixed_precision"] == "mixed_bfloat16"
    final = json.loads((tmp_path / "final_metrics.json").read_text())
    assert final["step"] == 8 and np.isfinite(final["loss"])
    for name in ("final.keras", "best.keras"):
        assert (tmp_path / name).exists()

    tags = _tensorboard_tags(tmp_path / "logs" / "train")
    assert {"learning_rate", "images_per_second", "batch_loss", "epoch_top1",
            "augmented_training_images"} <= tags

    metrics = evaluated_metrics(tmp_path)
    assert metrics["top1"] == pytest.approx(final["top1"], abs=1e-6)
    assert metrics["loss"] == pytest.approx(final["loss"], rel=1e-3)

    # labels.json, written with config.json, names the classes; evaluate.py reports it.
    label_map = {"dataset": "shapes", "class_names": list(shapes.CLASS_NAMES),
                 "category_ids": None}
    assert json.loads((tmp_path / "labels.json").read_text()) == label_map
    assert metrics["labels"] == label_map

    # The last training checkpoint holds the same weights and their EMA, which is evaluated;
    # a run from before labels.json takes its dataset's label map, without an error. Given
    # without --model_dir, the checkpoint's run directory supplies the config.
    (tmp_path / "labels.json").unlink()
    checkpoint = tmp_path / "checkpoints" / "ckpt-000000008.weights.h5"
    code, errors = run_here("evaluate.py", f"--checkpoint={checkpoint}",
                            f"--metrics_out={tmp_path / 'from_checkpoint.json'}")
    assert code in (0, None), errors[-2000:]
    metrics = json.loads((tmp_path / "from_checkpoint.json").read_text())
    assert metrics["loss"] == pytest.approx(final["loss"], rel=1e-3)
    assert metrics["labels"] == label_map


def _tensorboard_tags(directory):
    from tensorboard.backend.event_processing import event_accumulator
    tags = set()
    for path in directory.iterdir():
        accumulator = event_accumulator.EventAccumulator(str(path), size_guidance={"tensors": 0})
        accumulator.Reload()
        tags |= set(accumulator.Tags()["tensors"])
    return tags


def test_fine_tune_from_keras_applications_weights_with_a_frozen_backbone(tmp_path):
    source = keras.applications.MobileNetV3Small(
        input_shape=(32, 32, 3), alpha=0.75, weights=None, include_top=False,
        include_preprocessing=False)
    source_path = tmp_path / "source.keras"
    source.save(source_path)
    code, stderr = run_here("train.py", "--model=v3_small", "--config.model.width=0.75",
                            "--config.dataset.image_size=32",
                            "--config.dataset.options.num_examples=64", "--batch_size=16",
                            "--steps=3", f"--init_from={source_path}", "--freeze_backbone",
                            f"--model_dir={tmp_path / 'run'}")
    assert code in (0, None), stderr[-2000:]
    tuned = keras.saving.load_model(tmp_path / "run" / "final.keras", compile=False)
    np.testing.assert_array_equal(tuned.get_layer("expanded_conv_depthwise").get_weights()[0],
                                  source.get_layer("expanded_conv_depthwise").get_weights()[0])
    assert tuned.get_layer("logits").get_weights()[0].shape[-1] == 6   # a new head
