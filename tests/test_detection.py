"""Detection through the entry points: `python train.py --model=ssdlite_v3_small
--dataset=shapes` learns the Shapes boxes on a CPU (COCO AP50 at least MIN_AP50), `python
evaluate.py` reproduces the AP it printed and `python export.py` gives a TFLite model that finds
the same boxes (the every-model walk leaves this model's Shapes recipe to this run); detection
flags that do not fit are one-line user errors."""
import collections
import json
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf
from conftest import REPO_ROOT, evaluated_metrics, resolved_config, run_here, run_main

from mobilenet_tf import UserError, config as config_lib, engine
from mobilenet_tf.tasks import TASKS
from mobilenet_tf.tasks.base import predict_batches

# configs/shapes_det.py as `python train.py --model=ssdlite_v3_small --dataset=shapes` runs
# it (conftest's DETECTION_RUN, the session's shared trained_detection_run): 465 steps on the
# full Shapes boxes (1-4 shapes an image) at 160 px. Measured 2026-12-05: AP50 0.670, 0.592
# and 0.637 (seeds 0-2), about 200 CPU seconds for train.py. The bar is the issue's.
MIN_AP50 = 0.5


@pytest.mark.slow
def test_train_py_learns_shapes_boxes_and_evaluate_py_reproduces_the_ap(trained_detection_run,
                                                                       tmp_path):
    trained = trained_detection_run.process
    assert trained.returncode == 0, trained.stderr[-3000:]
    # A copy of the shared run: this test renames its classes.
    shutil.copytree(trained_detection_run.model_dir, tmp_path, dirs_exist_ok=True)
    final = json.loads((tmp_path / "final_metrics.json").read_text())
    print(f"shapes detection: AP50 {final['AP50']:.4f}, AP {final['AP']:.4f} after "
          f"{final['step']} steps, {trained_detection_run.cpu_seconds:.0f} CPU seconds")
    assert final["AP50"] >= MIN_AP50, final
    assert f"AP50 {final['AP50']:.4f}" in trained.stdout

    # The per-output losses add up to the loss (Keras's own gave n/(n+1) of it over n batches).
    assert final["boxes_loss"] + final["classes_loss"] == pytest.approx(final["loss"], rel=1e-4)

    # evaluate.py names the classes after the run's labels.json (renamed here to show it is
    # the file that is read) and reports the AP of each.
    label_map = json.loads((tmp_path / "labels.json").read_text())
    assert label_map["class_names"][0] == "circle" and label_map["category_ids"] is None
    label_map["class_names"] = [name.upper() for name in label_map["class_names"]]
    (tmp_path / "labels.json").write_text(json.dumps(label_map))
    metrics = evaluated_metrics(tmp_path, f"--plots_dir={tmp_path / 'plots'}")
    assert {"AP", "AP50", "AP75", "APs", "APm", "APl"} <= set(metrics)
    assert metrics["AP50"] == pytest.approx(final["AP50"], abs=1e-6)
    assert metrics["AP"] == pytest.approx(final["AP"], abs=1e-6)
    assert metrics["boxes_loss"] + metrics["classes_loss"] == pytest.approx(metrics["loss"],
                                                                            rel=1e-4)
    assert metrics["labels"] == label_map and len(metrics["per_class_AP"]) == 6
    # --plots_dir: per-class AP (the CSV in the run's names) and PR curves as PNG files.
    table = (tmp_path / "plots" / "per_class_AP.csv").read_text().splitlines()
    assert table[0] == "class,AP" and table[1] == f"CIRCLE,{metrics['per_class_AP'][0]:.4f}"
    for name in ("per_class_AP.png", "pr_curves.png"):
        assert (tmp_path / "plots" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # export.py from the run's directory, as the walk exports every other model's Shapes run:
    # the TFLite file's detections match the Keras model's on the check images.
    code, stderr = run_here("export.py", f"--model_dir={tmp_path}", "--format=tflite_float32",
                            "--check_images=4", "--latency_runs=0",
                            f"--metrics_out={tmp_path / 'export.json'}")
    assert code in (0, None), stderr[-3000:]
    (row,) = json.loads((tmp_path / "export.json").read_text())["rows"]
    assert row["format"] == "tflite_float32" and row["matched"] >= 0.75, row
    assert row["detections"] > 0 and os.path.getsize(row["path"]) > 10_000, row


@pytest.mark.parametrize("args, message", [
    (["--model=ssdlite_v3_small", "--dataset=imagenet"],
     "error: imagenet is a classification dataset; pick a classification model: "
     "--model=mobilenet_v1 | "),
    (["--model=ssdlite_v2", "--dataset=nope"],
     "error: unknown detection dataset 'nope'; choose one of coco, coco_json, shapes"),
    (["--model=mobilenet_v2", "--dataset=coco"],
     "error: coco is a detection dataset; pick a detection model: --model=ssdlite_v2 | "
     "ssdlite_v3_large | ssdlite_v3_small"),
    (["--model=ssdlite_v3_small", "--dataset=shapes",
      "--config.detection.classification_loss=hinge"],
     "error: detection.classification_loss='hinge': use focal or softmax"),
])
def test_detection_flags_that_do_not_fit_are_one_line_errors(train_main, monkeypatch, capsys,
                                                            tmp_path, args, message):
    never = tmp_path / "never-written"
    code, errors = run_main(train_main, monkeypatch, capsys, [*args, f"--model_dir={never}"])
    assert code == 2 and len(errors) == 1 and errors[0].startswith(message), errors
    assert not never.exists()


def test_recipes_pick_by_model_and_dataset():
    assert config_lib.recipe_for("ssdlite_v3_large", "coco").endswith("ssdlite_v3_large_coco.py")
    assert config_lib.recipe_for("ssdlite_v2", "coco_json").endswith("own_detection.py")
    assert config_lib.recipe_for("ssdlite_v3_small", "shapes").endswith("shapes_det.py")
    assert config_lib.recipe_for("lraspp_v3_small", "shapes").endswith("shapes_seg.py")
    config = config_lib.load_recipe(config_lib.recipe_for("ssdlite_v2", "cityscapes"))
    config.dataset.name = "cityscapes"
    with pytest.raises(UserError, match="cityscapes is a segmentation dataset; pick a "
                                        "segmentation model: --model=lraspp_v3_large"):
        TASKS[config.task].check_config(config)
    for name in ("ssdlite_v3_large_coco", "ssdlite_v3_small_coco", "ssdlite_v2_coco",
                 "ssdlite_v3_large_coco_torchvision", "shapes_det"):
        config = config_lib.load_recipe(os.path.join(config_lib.CONFIG_DIR, name + ".py"))
        assert config.task == "detection" and config.model.name.startswith("ssdlite_")
    v3 = config_lib.load_recipe(os.path.join(config_lib.CONFIG_DIR, "ssdlite_v3_large_coco.py"))
    assert (v3.train.batch_size, v3.train.steps, v3.optimizer.learning_rate) == (512, 400_000,
                                                                                0.4)
    assert v3.detection.classification_loss == "focal" and v3.detection.focal_alpha == 0.75
    v2 = config_lib.load_recipe(os.path.join(config_lib.CONFIG_DIR, "ssdlite_v2_coco.py"))
    assert v2.optimizer.name == "rmsprop" and v2.detection.classification_loss == "softmax"


def test_a_detection_run_traces_its_train_and_test_steps_once(monkeypatch):
    """engine.build_for_batches builds the compiled losses and metrics before fit(): Keras
    otherwise builds them inside the first trace of the train step, and the variables of the
    two outputs' loss trackers made TensorFlow trace the whole step twice (3-6 CPU s a run)."""
    monkeypatch.chdir(REPO_ROOT)
    config = resolved_config("--model=ssdlite_v3_small", "--dataset=shapes", "--smoke_test",
                             "--config.model.width=0.35")
    config.runtime.run_eagerly = False   # traced, as every run but --smoke_test's
    task = TASKS[config.task]
    dataset, info = task.build_inputs(config, "train", training=True)
    model = engine.prepare_model(task, config, info.num_classes, steps_per_epoch=2,
                                 total_steps=2)
    engine.build_for_batches(model, dataset.element_spec)
    traces = collections.Counter()

    def counted(step):
        original = getattr(model, step)

        def step_function(data):   # runs once per trace of the compiled step
            traces[step] += 1
            return original(data)
        return step_function

    for step in ("train_step", "test_step"):
        monkeypatch.setattr(model, step, counted(step))
    model.fit(dataset.take(2), validation_data=dataset.take(1), shuffle=False, verbose=0)
    assert traces == {"train_step": 1, "test_step": 1}


def test_predict_batches_pads_the_last_batch_to_the_first_ones_size():
    """The COCO AP's (and the confusion matrix's) loop: predict_on_batch sees one batch size,
    so it traces once, and the padding's outputs never reach the scores."""
    images = np.arange(5 * 2 * 2 * 3, dtype=np.uint8).reshape(5, 2, 2, 3)
    dataset = tf.data.Dataset.from_tensor_slices((images, np.arange(5))).batch(2)
    seen = []

    def run(batch):
        seen.append(len(batch))
        return {"sums": batch.reshape(len(batch), -1).sum(axis=1), "first": batch[:, 0, 0]}

    results = list(predict_batches(run, dataset))
    assert seen == [2, 2, 2]
    assert [len(outputs["sums"]) for outputs, _ in results] == [2, 2, 1]
    sums = np.concatenate([outputs["sums"] for outputs, _ in results])
    np.testing.assert_array_equal(sums, images.reshape(5, -1).sum(axis=1))
    np.testing.assert_array_equal(np.concatenate([t for _, t in results]), np.arange(5))
