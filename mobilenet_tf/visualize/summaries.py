"""TensorBoard pictures of a run's validations (engine.train adds ValidationPictures when
config.train.validation_pictures > 0), under the validation run's Images tab:

    validation/predictions     a fixed set of the first validation images with the current
                               predictions drawn: predicted and true class (classification),
                               ground truth | predicted boxes (detection), ground truth |
                               predicted mask overlay (segmentation)
    validation/confusion_matrix   classification: over the first CONFUSION_EXAMPLES validation
                               images, rows the true class
    validation/pr_curves       detection, at the final step: per-class precision-recall from
                               the final COCO evaluation (its precision array)

Cheap by design: only after a validation, the same few images each time, loaded once.
"""
import io

import keras
import numpy as np
from PIL import Image

from mobilenet_tf import callbacks
from mobilenet_tf.metrics import confusion_matrix
from mobilenet_tf.visualize import draw

CONFUSION_EXAMPLES = 256
DRAWN_SCORE = 0.3          # detection: the lowest score drawn
RIGHT, WRONG = (80, 220, 100), (255, 90, 90)


class ValidationPictures(keras.callbacks.Callback):
    """Draws `count` validation images with the model's predictions after each validation
    (and the confusion matrix, classification) into `board` (callbacks.TensorBoard)."""

    def __init__(self, task, config, board, class_names, count=8):
        super().__init__()
        self.task, self.config, self.board = task, config, board
        self.class_names, self.count = list(class_names), count
        self._examples = None   # (images, labels): loaded at the first validation
        self._detector = None

    def _load(self):
        from mobilenet_tf.export import source   # export imports the engine
        limit = CONFUSION_EXAMPLES if self.task.name == "classification" else self.count
        self._examples = source.images(self.config, self.config.dataset.eval_split, limit)

    def on_epoch_end(self, epoch, logs=None):
        if not any(key.startswith("val_") for key in (logs or {})):
            return
        if self._examples is None:
            self._load()
        step = callbacks.global_step(self.model)
        with callbacks.ema_weights(self.model):   # what validation scored
            pictures = getattr(self, f"_{self.task.name}")(*self._examples)
        for name, picture in pictures.items():
            self.board.write_validation_image(name, picture, step)

    def _predict(self, model, images):
        # TensorFlow: eager calls (tracing a predict function would cost more than a few
        # batches); JAX: Keras's jitted predict step (op by op, each op would be compiled).
        jax = keras.backend.backend() == "jax"
        run = model.predict_on_batch if jax else lambda x: model(x, training=False)
        return [keras.tree.map_structure(keras.ops.convert_to_numpy, run(images[i:i + 64]))
                for i in range(0, len(images), 64)]

    def _classification(self, images, labels):
        logits = np.concatenate(self._predict(self.model, images))
        probabilities = keras.ops.convert_to_numpy(keras.ops.softmax(logits, axis=-1))
        predicted = probabilities.argmax(-1)
        drawn = []
        for image, label, guess, p in zip(images[:self.count], labels, predicted,
                                          probabilities):
            drawn.append(draw.caption(draw.enlarge(image), [
                f"pred {self.class_names[guess]} {p[guess]:.2f}",
                f"true {self.class_names[label]}"], [RIGHT if guess == label else WRONG,
                                                     (230, 230, 230)]))
        classes = len(self.class_names)
        confusion = keras.ops.convert_to_numpy(confusion_matrix(labels, predicted, classes))
        return {"validation/predictions": draw.grid(drawn, columns=4),
                "validation/confusion_matrix": draw.confusion_image(confusion,
                                                                    self.class_names)}

    def _detection(self, images, groundtruth):
        if self._detector is None:
            from mobilenet_tf.tasks.detection import inference_model
            self._detector = inference_model(self.config, self.model)
        (detections,) = self._predict(self._detector, images[:self.count])
        colours = draw.palette(len(self.class_names))
        pairs = []
        for i, image in enumerate(images[:self.count]):
            image = draw.enlarge(image, 240)   # text in proportion
            real = groundtruth["gt_classes"][i] >= 0
            classes = groundtruth["gt_classes"][i][real]
            truth = draw.draw_boxes(image, draw.pixel_boxes(groundtruth["gt_boxes"][i][real],
                                                            *image.shape[:2]),
                                    [self.class_names[c] for c in classes], colours[classes])
            count = int(detections["num_detections"][i])
            scores = detections["scores"][i][:count]
            keep = np.flatnonzero(scores >= DRAWN_SCORE)[::-1]   # the best last, on top
            found = detections["classes"][i][keep]
            predicted = draw.draw_boxes(
                image, draw.pixel_boxes(detections["boxes"][i][keep], *image.shape[:2]),
                [f"{self.class_names[c]} {s:.2f}" for c, s in zip(found, scores[keep])],
                colours[found])
            pairs.append(draw.side_by_side(draw.caption(truth, ["ground truth"]), draw.caption(
                predicted, [f"predicted, score >= {DRAWN_SCORE}"])))
        return {"validation/predictions": draw.grid(pairs, columns=2, gap=6)}

    def _segmentation(self, images, masks):
        logits = np.concatenate(self._predict(self.model, images[:self.count]))
        colours = draw.palette(len(self.class_names), background=True)
        pairs = [draw.side_by_side(
            draw.caption(draw.enlarge(draw.overlay(image, np.where(mask < len(colours), mask, 0),
                                                   colours)), ["ground truth"]),
            draw.caption(draw.enlarge(draw.overlay(image, prediction, colours)), ["predicted"]))
            for image, mask, prediction in zip(images, masks, logits.argmax(-1))]
        return {"validation/predictions": draw.grid(pairs, columns=2, gap=6)}

    def write_final(self, step):
        """At the end of training: detection's per-class PR curves from the final COCO
        evaluation (task.last_precision)."""
        precision = getattr(self.task, "last_precision", None)
        if precision is None:
            return
        from mobilenet_tf.visualize import charts   # matplotlib: only here
        png = charts.pr_curves(precision, self.class_names)
        with Image.open(io.BytesIO(png)) as image:
            self.board.write_validation_image("validation/pr_curves",
                                              np.asarray(image.convert("RGB")), step)
