"""evaluate.py --plots_dir=DIR: the pictures of one evaluation, as PNG files (and the
per-class numbers as CSV), each written under a temporary name and renamed when complete.

    classification  confusion_matrix.png, per_class_accuracy.png, per_class.csv (images,
                    accuracy i.e. recall, precision, the class it is most often taken for)
    detection       per_class_AP.png, pr_curves.png (COCOeval's precision array of the
                    evaluation just run), per_class_AP.csv
    segmentation    per_class_iou.png, per_class_iou.csv
"""
import csv
import io
import os

import keras
import numpy as np

from mobilenet_tf.callbacks import ema_weights, write_text_atomically
from mobilenet_tf.metrics import confusion_matrix
from mobilenet_tf.tasks import TASKS
from mobilenet_tf.tasks.base import predict_batches
from mobilenet_tf.visualize import charts, draw


def write(plots_dir, config, model, metrics, class_names, split):
    """Writes the task's plots of `metrics` (engine.evaluate's, just computed for `model` on
    `split`) into plots_dir; the paths written. class_names: the run's, in class order."""
    os.makedirs(plots_dir, exist_ok=True)
    files = PLOTS[config.task](config, model, metrics, list(class_names), split)
    written = []
    for name, content in files.items():
        path = os.path.join(plots_dir, name)
        write_text_atomically(path, content)
        written.append(path)
    return written


def _table(header, rows):
    text = io.StringIO()
    out = csv.writer(text)
    out.writerow(header)
    out.writerows(rows)
    return text.getvalue()


def _format(value):
    return "" if value is None else f"{value:.4f}"


def confusion_of(config, model, split):
    """(C, C) counts over the split, rows the true class, columns the predicted one."""
    task = TASKS[config.task]
    dataset, info = task.build_inputs(config, split, training=False)
    classes = info.num_classes
    confusion = np.zeros((classes, classes), np.int64)
    with ema_weights(model):
        for probabilities, labels in predict_batches(model.predict_on_batch, dataset):
            predicted = probabilities.argmax(-1)
            confusion += keras.ops.convert_to_numpy(confusion_matrix(labels, predicted,
                                                                     classes))
    return confusion


def _classification(config, model, metrics, names, split):
    confusion = confusion_of(config, model, split)
    names = names if len(names) == len(confusion) else [str(i) for i in range(len(confusion))]
    support, predicted = confusion.sum(axis=1), confusion.sum(axis=0)
    correct = np.diagonal(confusion)
    recall = [float(c / s) if s else None for c, s in zip(correct, support)]
    precision = [float(c / p) if p else None for c, p in zip(correct, predicted)]
    off_diagonal = confusion - np.diag(correct)
    rows = [(name, int(support[i]), _format(recall[i]), _format(precision[i]),
             names[int(off_diagonal[i].argmax())] if off_diagonal[i].any() else "")
            for i, name in enumerate(names)]
    return {
        "confusion_matrix.png": draw.png_bytes(draw.confusion_image(confusion, names)),
        "per_class_accuracy.png": charts.per_class_bars(
            recall, names, f"{config.dataset.name} {split}: accuracy per class "
            f"(top-1 {metrics.get('top1', float('nan')):.3f})", "accuracy (recall)"),
        "per_class.csv": _table(("class", "images", "accuracy", "precision",
                                 "most often taken for"), rows),
    }


def _detection(config, model, metrics, names, split):
    per_class = metrics["per_class_AP"]
    names = names if len(names) == len(per_class) else [str(i) for i in range(len(per_class))]
    files = {
        "per_class_AP.png": charts.per_class_bars(
            per_class, names, f"{config.dataset.name} {split}: COCO AP per class "
            f"(AP {metrics['AP']:.3f})", "AP (IoU 0.5:0.95)"),
        "per_class_AP.csv": _table(("class", "AP"), [(name, _format(value))
                                                     for name, value in zip(names, per_class)]),
    }
    precision = TASKS["detection"].last_precision   # of the split_metrics just run
    if precision is not None:
        files["pr_curves.png"] = charts.pr_curves(precision, names)
    return files


def _segmentation(config, model, metrics, names, split):
    per_class = metrics["per_class_iou"]
    names = names if len(names) == len(per_class) else [str(i) for i in range(len(per_class))]
    return {
        "per_class_iou.png": charts.per_class_bars(
            per_class, names, f"{config.dataset.name} {split}: IoU per class "
            f"(mIoU {metrics['mIoU']:.3f})", "IoU"),
        "per_class_iou.csv": _table(("class", "IoU"), [(name, _format(value))
                                                       for name, value in zip(names,
                                                                              per_class)]),
    }


PLOTS = {"classification": _classification, "detection": _detection,
         "segmentation": _segmentation}
