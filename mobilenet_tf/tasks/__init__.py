"""Tasks: what is specific to classification, detection or segmentation (model, inputs,
loss, metrics, evaluation, weights, export); the engine does the rest. The interface is
mobilenet_tf.tasks.base.Task; a model's task is its registry row's `task`.

    task = TASKS[config.task]
"""
from mobilenet_tf.tasks.base import Task
from mobilenet_tf.tasks.classification import ClassificationTask
from mobilenet_tf.tasks.detection import DetectionTask
from mobilenet_tf.tasks.segmentation import SegmentationTask

TASKS = {task.name: task for task in (ClassificationTask(), DetectionTask(), SegmentationTask())}

__all__ = ["TASKS", "Task", "task_of_dataset"]


def task_of_dataset(dataset):
    """The name of the first task that reads `dataset` (Shapes: classification), or None."""
    return next((name for name, task in TASKS.items() if task.reads(dataset)), None)
