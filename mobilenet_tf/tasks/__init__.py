"""Tasks: what is specific to classification, detection or segmentation (model, inputs,
loss, metrics); the engine does the rest.

    task = TASKS[config.task]
"""
from mobilenet_tf.tasks import classification, detection, segmentation

TASKS = {"classification": classification, "detection": detection,
         "segmentation": segmentation}
