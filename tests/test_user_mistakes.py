"""A user's mistake is one line starting with "error:", exit code 2, and leaves nothing
half-made: no new model dir, an existing run's files untouched."""
import hashlib
import os

import keras
import numpy as np
import pytest
from PIL import Image

from conftest import run_main
from mobilenet_tf import config as config_lib, engine

TINY = ["--model=v1", "--config.model.width=0.25", "--config.dataset.image_size=32",
        "--config.dataset.options.num_examples=96", "--batch_size=16"]


def _tree_digest(directory):
    """A digest of every file's path and bytes under `directory`."""
    digest = hashlib.sha256()
    for root, _, files in sorted(os.walk(directory)):
        for name in sorted(files):
            path = os.path.join(root, name)
            digest.update(path.encode())
            with open(path, "rb") as f:
                digest.update(f.read())
    return digest.hexdigest()


def _one_error_line(train_main, monkeypatch, capsys, args):
    code, lines = run_main(train_main, monkeypatch, capsys, args)
    assert code == 2, lines
    assert len(lines) == 1, lines
    return lines[0]


def test_offline_init_from_keras_applications_says_how_to_pass_a_file(
        train_main, monkeypatch, capsys, tmp_path):
    def offline(*args, **kwargs):   # what keras.utils.get_file raises without a network
        raise Exception("URL fetch failure on https://storage.googleapis.com/...: None -- "
                        "[Errno -3] Temporary failure in name resolution")
    monkeypatch.setattr("keras.src.utils.file_utils.get_file", offline)
    line = _one_error_line(train_main, monkeypatch, capsys, [
        *TINY, "--config.dataset.image_size=128", "--init_from=keras_applications",
        f"--model_dir={tmp_path / 'run'}"])
    assert "could not be downloaded" in line and "--init_from=PATH" in line, line
    assert not (tmp_path / "run").exists()


def test_a_model_dir_of_another_model_is_refused_before_anything_is_written(
        train_main, monkeypatch, capsys, tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    old = config_lib.load_recipe("configs/shapes_cls_v2.py")
    (run_dir / "config.json").write_text(config_lib.to_json(old))
    (run_dir / "checkpoints").mkdir()
    (run_dir / "checkpoints" / "checkpoint.json").write_text("{}")
    before = _tree_digest(run_dir)
    line = _one_error_line(train_main, monkeypatch, capsys,
                           [*TINY, f"--model_dir={run_dir}"])
    assert line.startswith(f"error: --model_dir {run_dir} holds a run with "
                           "model.name='mobilenet_v2', not 'mobilenet_v1'"), line
    assert "--model=mobilenet_v2" in line
    assert _tree_digest(run_dir) == before


def test_a_batch_larger_than_the_data_leaves_no_model_dir(train_main, monkeypatch, capsys,
                                                          tmp_path):
    line = _one_error_line(train_main, monkeypatch, capsys, [
        *TINY, "--batch_size=512", f"--model_dir={tmp_path / 'run'}"])
    assert "fewer than one batch of 512" in line, line
    assert not (tmp_path / "run").exists()


def test_a_folder_of_one_class_is_an_error(train_main, monkeypatch, capsys, tmp_path):
    os.makedirs(tmp_path / "data" / "cats")
    for k in range(4):
        Image.fromarray(np.full((8, 8, 3), 40 * k, np.uint8)).save(
            tmp_path / "data" / "cats" / f"{k}.png")
    line = _one_error_line(train_main, monkeypatch, capsys, [
        "--dataset=folder", f"--data_dir={tmp_path / 'data'}",
        f"--model_dir={tmp_path / 'run'}"])
    assert "has one class folder (cats); a classifier needs two or more" in line, line
    assert not (tmp_path / "run").exists()


def test_a_weights_checkpoint_outside_its_run_needs_the_run(monkeypatch, capsys, tmp_path):
    import sys
    from conftest import REPO_ROOT
    sys.path.insert(0, REPO_ROOT)
    import evaluate
    from mobilenet_tf import cli
    if "model" not in cli.FLAGS:
        cli.define_flags()
    if "checkpoint" not in cli.FLAGS:
        cli.define_saved_model_flags()
    loose = tmp_path / "ckpt-000000008.weights.h5"
    loose.write_bytes(b"")
    code, lines = run_main(evaluate.main, monkeypatch, capsys, [f"--checkpoint={loose}"])
    assert code == 2 and len(lines) == 1, lines
    assert "a weights file needs its run's config" in lines[0]
    assert "--model_dir=RUN" in lines[0]


def test_mixed_float16_on_a_cpu_warns_in_one_line(capsys):
    policy = engine.choose_precision("mixed_float16", None)
    assert policy == "mixed_float16"
    warnings = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "slower than float32" in warnings[0], warnings
    keras.mixed_precision.set_dtype_policy("float32")


def test_the_same_run_with_other_training_settings_resumes(tmp_path):
    """What may change on a resume (epochs, learning rate) is not refused."""
    config = config_lib.load_recipe("configs/shapes_cls.py")
    (tmp_path / "config.json").write_text(config_lib.to_json(config))
    config.train.epochs, config.optimizer.learning_rate = 9, 0.05
    engine.check_same_run(config, str(tmp_path))   # no error
    config.model.width = 0.5
    with pytest.raises(engine.UserError, match="model.width=1.0, not 0.5"):
        engine.check_same_run(config, str(tmp_path))
