"""Detection through the entry points: `python train.py --model=ssdlite_v3_small
--dataset=shapes` learns the Shapes boxes on a CPU (COCO AP50 at least MIN_AP50) and `python
evaluate.py` reproduces the AP it printed; detection flags that do not fit are one-line user
errors."""
import json
import os

import pytest
from conftest import cpu_seconds_of_children, evaluated_metrics, run_main, run_script

from mobilenet_tf import UserError, config as config_lib
from mobilenet_tf.tasks import TASKS

# configs/shapes_det.py as `python train.py --model=ssdlite_v3_small --dataset=shapes` runs
# it: 372 steps on the full Shapes boxes (1-4 shapes an image) at 160 px. Measured 2026-11-24:
# AP50 0.581 and 0.546 (seeds 0, 1), about 200 CPU seconds for train.py. The bar is the
# issue's.
# The recipe as `python train.py --model=ssdlite_v3_small --dataset=shapes` runs it, validated
# once at the end rather than after each of its 5 epochs: the same training (validation draws
# no random numbers), 4 fewer passes of COCO AP over 300 images.
SHAPES_RUN = ["--config.train.eval_every_epochs=5"]
MIN_AP50 = 0.5


@pytest.mark.slow
def test_train_py_learns_shapes_boxes_and_evaluate_py_reproduces_the_ap(tmp_path):
    started = cpu_seconds_of_children()
    trained = run_script("train.py", "--model=ssdlite_v3_small", "--dataset=shapes",
                         *SHAPES_RUN, f"--model_dir={tmp_path}", timeout=900)
    cpu_seconds = cpu_seconds_of_children() - started
    assert trained.returncode == 0, trained.stderr[-3000:]
    final = json.loads((tmp_path / "final_metrics.json").read_text())
    print(f"shapes detection: AP50 {final['AP50']:.4f}, AP {final['AP']:.4f} after "
          f"{final['step']} steps, {cpu_seconds:.0f} CPU seconds")
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
    metrics = evaluated_metrics(tmp_path)
    assert {"AP", "AP50", "AP75", "APs", "APm", "APl"} <= set(metrics)
    assert metrics["AP50"] == pytest.approx(final["AP50"], abs=1e-6)
    assert metrics["AP"] == pytest.approx(final["AP"], abs=1e-6)
    assert metrics["boxes_loss"] + metrics["classes_loss"] == pytest.approx(metrics["loss"],
                                                                            rel=1e-4)
    assert metrics["labels"] == label_map and len(metrics["per_class_AP"]) == 6


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

