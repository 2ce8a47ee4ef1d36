"""Evaluate a model on a dataset split: top-1, top-5 and loss (classification); mIoU, pixel
accuracy, per-class IoU and loss (segmentation, over the whole split at full resolution;
--config.segmentation.eval_scales / eval_flip / eval_window for multi-scale, flipped or
sliding-window prediction); COCO AP, per-class AP and the losses (detection). Per-class
results are printed with the run's class names (labels.json), and --metrics_out carries its
label map.

    python evaluate.py --model_dir=runs/RUN                 # its final.keras on its dataset
    python evaluate.py --checkpoint=runs/RUN/best.keras --split=validation
    python evaluate.py --init_from=keras_applications --model=v2 --dataset=imagenet --data_dir=DIR

flags -> config (the run's config.json, else the recipe) -> model -> engine.evaluate.
"""
import json
import os

from mobilenet_tf import startup

startup.import_tensorflow_quietly()

import keras   # noqa: E402
from absl import flags   # noqa: E402

from mobilenet_tf import cli, engine, labels, optim   # noqa: E402
from mobilenet_tf.tasks import TASKS   # noqa: E402

flags.DEFINE_string("split", None, "Split to evaluate (default: the config's eval_split).")
flags.DEFINE_string("plots_dir", None, "Also write the evaluation's pictures here (PNG, with "
                    "CSV tables): the confusion matrix and per-class accuracy "
                    "(classification), per-class AP and PR curves (detection), per-class IoU "
                    "(segmentation).")


def load_model(config):
    """The model to evaluate, with EMA weights swapped in by engine.evaluate when present."""
    FLAGS = cli.FLAGS
    task = TASKS[config.task]
    path = FLAGS.checkpoint
    if path is None and FLAGS.model_dir:
        path = os.path.join(FLAGS.model_dir, f"{FLAGS.weights}.keras")
    if path is None:   # --init_from=keras_applications or a weights file, no training run
        if not config.train.init_from:
            raise cli.UserError("nothing to evaluate: give --model_dir, --checkpoint or "
                                "--init_from")
        model = task.build_model(config, num_classes=_num_classes(task, config))
        task.init_from(model, config.train.init_from, config)
        return engine.compile_model(model, task, config, keras.optimizers.SGD())
    if not os.path.exists(path):
        raise cli.UserError(f"{path} not found; give --model_dir of a finished run or "
                            "--checkpoint=FILE")
    if path.endswith(".keras"):
        model = keras.saving.load_model(path, compile=False)
        return engine.compile_model(model, task, config, keras.optimizers.SGD())
    # A training checkpoint: model and optimizer state, which holds the EMA weights.
    model = task.build_model(config, num_classes=_num_classes(task, config))
    optimizer = optim.build_optimizer(config, steps_per_epoch=1, total_steps=1)
    engine.compile_model(model, task, config, optimizer)
    model.load_weights(path)
    return model


def _num_classes(task, config):
    _, info = task.build_inputs(config, config.dataset.eval_split, training=False)
    return info.num_classes


def main(argv):
    if len(argv) > 1:
        raise cli.UserError(f"unexpected arguments {argv[1:]}; flags look like --name=value")
    FLAGS = cli.FLAGS
    config = cli.run_or_recipe_config()
    engine.check_config(config)
    keras.mixed_precision.set_dtype_policy(engine.choose_precision(
        config.runtime.mixed_precision, None))
    model = load_model(config)
    metrics = engine.evaluate(config, model, split=FLAGS.split)
    split = FLAGS.split or config.dataset.eval_split
    # The model's classes: the run's labels.json, else (older runs) its dataset's.
    label_map = labels.of_run(config, FLAGS.model_dir or (
        FLAGS.checkpoint and labels.run_dir(FLAGS.checkpoint)))
    print(f"{config.dataset.name} {split}: " + ", ".join(
        f"{name} {value:.4f}" for name, value in metrics.items() if isinstance(value, float)))
    # None: segmentation, a class neither present nor predicted; detection, no ground truth.
    for key, title in (("per_class_iou", "per-class IoU"), ("per_class_AP", "per-class AP")):
        if key in metrics:
            print(f"{title}: " + ", ".join(
                f"{name} {'-' if value is None else f'{value:.3f}'}"
                for name, value in zip(class_names(label_map, len(metrics[key])),
                                       metrics[key])))
    if FLAGS.plots_dir:
        from mobilenet_tf.visualize import evaluation   # matplotlib: only when asked
        names = (label_map or {}).get("class_names") or []
        for path in evaluation.write(FLAGS.plots_dir, config, model, metrics, names, split):
            print(f"wrote {path}")
    if FLAGS.metrics_out:
        with open(FLAGS.metrics_out, "w") as f:
            json.dump({**metrics, "dataset": config.dataset.name, "split": split,
                       "labels": label_map}, f, indent=2)


def class_names(label_map, count):
    """The names of classes 0..count-1 for printing: "name" or, with COCO category ids,
    "name [id]"; the index where there is no label map."""
    if not label_map or len(label_map["class_names"]) != count:
        return [str(i) for i in range(count)]
    ids = label_map.get("category_ids")
    return [f"{name} [{ids[i]}]" if ids else name
            for i, name in enumerate(label_map["class_names"])]


if __name__ == "__main__":
    cli.define_flags()
    cli.define_saved_model_flags()
    cli.run(main)
