"""Every registry row, with each of its recipes: the recipe shrunk by --smoke_test
(configs/common.smoke: 2 steps of 8 Shapes images) through train.py, and for the row's Shapes
recipe also evaluate.py from the run's model dir and export.py to TFLite (float32) with the
export check. Parametrised from the registry, so a new model or recipe is covered without
writing a test. The (model, Shapes recipe) pairs of the session's shared train.py runs
(conftest.SHARED_CLASSIFIER_RUNS and DETECTION_RUN) are left to them: they train the recipe
whole, and test_shapes_learnable, test_export and test_detection evaluate and export them."""
import filecmp
import json
import os
import sys
import time

import pytest

from conftest import (DETECTION_RUN, REPO_ROOT, SHARED_CLASSIFIER_RUNS, resolved_config,
                      run_main)
from mobilenet_tf import config as config_lib, engine, models
from mobilenet_tf.models import options as model_options
from mobilenet_tf.tasks import TASKS

sys.path.insert(0, REPO_ROOT)
import evaluate  # noqa: E402
import export  # noqa: E402
import train  # noqa: E402
from mobilenet_tf import cli  # noqa: E402

if "model" not in cli.FLAGS:
    cli.define_flags()
if "checkpoint" not in cli.FLAGS:
    cli.define_saved_model_flags()

ROWS = [(row.name, recipe) for row in models.MODELS for recipe in row.all_recipes()]


def _shared_run_pairs():
    """{(model, recipe file)} that the shared train.py runs train, as train.py resolves
    their arguments."""
    pairs = set()
    for arguments in [*SHARED_CLASSIFIER_RUNS.values(), DETECTION_RUN]:
        config = resolved_config(*arguments)
        pairs.add((config.model.name, os.path.basename(config.recipe)))
    return pairs


SHARED_RUN_PAIRS = _shared_run_pairs()


def _walk():
    """(model, recipe, how far) for every registry row and each of its recipes.

    "export": a model's default (Shapes) recipe goes through train.py, evaluate.py and
    export.py to TFLite. "train": every other recipe file, the first time a row names it,
    through train.py, whose validation runs the recipe's own evaluation pipeline (crop,
    eval size, post-processing); evaluate.py and export.py read the run dir the same way
    whatever the recipe, and the row's Shapes run has been through them. "build": a recipe
    another model has already been through (finetune.py for every classifier,
    own_detection.py for each SSDLite, ...) is resolved as train.py resolves it and its
    model built and compiled with it: what differs between models on one recipe is the
    model's options and the optimizer on its weights, which is where a recipe breaks a
    model (the BN options SqueezeNet does not take). The shared runs' pairs are not walked
    (SHARED_RUN_PAIRS). 60 pairs, about 6 minutes of CPU."""
    walked, plan = set(), []
    for row in models.MODELS:
        for recipe in row.all_recipes():
            if recipe == row.shapes_recipe:
                depth = "export"
            else:
                depth = "build" if recipe in walked else "train"
            walked.add(recipe)
            if (row.name, recipe) not in SHARED_RUN_PAIRS:
                plan.append((row.name, recipe, depth))
    return plan
# What each task's evaluate.py reports (export.py's check adds its own columns).
REPORTED = {"classification": {"top1", "top5", "loss"},
            "detection": {"loss", "AP", "AP50"},
            "segmentation": {"mIoU", "pixel_accuracy", "per_class_iou", "loss"}}


def test_registry_rows_name_existing_recipes_of_their_task():
    files = {name for name in os.listdir(config_lib.CONFIG_DIR)
             if name.endswith(".py") and name not in ("__init__.py", "common.py")}
    used = {recipe for _, recipe in ROWS}
    assert files == used, ("recipes no row names", files - used, "missing", used - files)
    for model, recipe in ROWS:
        config = config_lib.load_recipe(os.path.join(config_lib.CONFIG_DIR, recipe))
        assert config.task == models.entry(model).task, (model, recipe)


def test_the_pairs_left_to_the_shared_runs_are_their_models_shapes_recipes():
    assert SHARED_RUN_PAIRS == {("mobilenet_v3_small", "shapes_cls.py"),
                                ("mobilenet_v2", "shapes_cls_v2.py"),
                                ("mobilenet_v4_conv_small", "shapes_cls_v4.py"),
                                ("ssdlite_v3_small", "shapes_det.py")}
    for model, recipe in SHARED_RUN_PAIRS:
        assert models.entry(model).shapes_recipe == recipe
    assert len(_walk()) == len(ROWS) - len(SHARED_RUN_PAIRS)


@pytest.mark.parametrize("model, recipe, depth", _walk())
def test_train_evaluate_export_every_model_with_every_recipe(model, recipe, depth, tmp_path,
                                                            monkeypatch, capsys):
    if depth == "build":   # a recipe already walked with another model: resolve, build, compile
        monkeypatch.chdir(REPO_ROOT)
        config = resolved_config(f"--config=configs/{recipe}", f"--model={model}", "--smoke_test")
        assert config.model.name == model and config.task == models.entry(model).task
        task = TASKS[config.task]
        built = engine.prepare_model(task, config, num_classes=6, steps_per_epoch=8,
                                     total_steps=config.train.steps)
        assert built.optimizer.iterations.numpy() == 0 and built.count_params() > 0
        return
    run_dir, started = tmp_path / "run", time.process_time()
    common = [f"--model_dir={run_dir}"]
    code, errors = run_main(train.main, monkeypatch, capsys, [
        f"--config=configs/{recipe}", f"--model={model}", "--smoke_test", *common])
    assert code in (0, None), errors
    final = json.loads((run_dir / "final_metrics.json").read_text())
    assert final["step"] == 2
    written = json.loads((run_dir / "config.json").read_text())
    assert written["model"]["name"] == model and written["recipe"] == f"configs/{recipe}"
    # One validation, at the end, so it was the best: final.keras is best.keras's copy, not a
    # second serialisation (evaluate.py below checks the copy's loss).
    assert filecmp.cmp(run_dir / "final.keras", run_dir / "best.keras", shallow=False)
    task, trained = models.entry(model).task, time.process_time()
    assert REPORTED[task] - {"per_class_iou"} <= set(final), final
    if depth == "train":
        return

    code, errors = run_main(evaluate.main, monkeypatch, capsys, [
        *common, f"--metrics_out={tmp_path / 'evaluated.json'}"])
    assert code in (0, None), errors
    evaluated = json.loads((tmp_path / "evaluated.json").read_text())
    assert REPORTED[task] <= set(evaluated), evaluated
    assert evaluated["loss"] == pytest.approx(final["loss"], rel=1e-4)

    evaluated_at = time.process_time()
    code, errors = run_main(export.main, monkeypatch, capsys, [
        *common, "--format=tflite_float32", "--check_images=4", "--latency_runs=0",
        f"--metrics_out={tmp_path / 'export.json'}"])
    assert code in (0, None), errors
    rows = json.loads((tmp_path / "export.json").read_text())["rows"]
    assert [row["format"] for row in rows] == ["tflite_float32"]
    print(f"CPU s: train {trained - started:.1f}, evaluate {evaluated_at - trained:.1f}, "
          f"export {time.process_time() - evaluated_at:.1f}")
    assert os.path.getsize(rows[0]["path"]) > 10_000
    agreement = {"classification": "top1_agreement", "detection": "matched",
                 "segmentation": "pixel_agreement"}[task]
    assert rows[0][agreement] >= 0.75, rows[0]


@pytest.mark.parametrize("row", models.MODELS, ids=lambda row: row.name)
def test_new_layers_are_exactly_the_layers_the_backbone_weights_lack(row):
    """The registry's new_layers are what --init_from leaves as initialised and
    --freeze_backbone leaves trainable: every weighted layer outside the backbone
    classifier's include_top=False model, and nothing else."""
    size = 96 if row.name == "xception" or row.task == "detection" else 64
    shape = (size, size, 3)
    # Narrow where the builder takes a width: the layers' names do not depend on it, and the
    # large V4s build in a third of the time.
    narrow = lambda name: ({"width": 0.25} if "width" in model_options.accepted_options(
        models.entry(name).build) else {})
    with models.without_initial_weights():   # names and which layers have weights
        model = models.build(row.name, input_shape=shape, num_classes=5, **narrow(row.name))
        backbone = models.build(row.backbone, input_shape=shape, include_top=False,
                                **narrow(row.backbone))
    in_backbone = {layer.name for layer in backbone.layers if layer.weights}
    weighted = [layer.name for layer in model.layers if layer.weights]
    new = {name for name in weighted if name.startswith(row.new_layers)}
    assert new == set(weighted) - in_backbone, row.name
    assert new, row.name
