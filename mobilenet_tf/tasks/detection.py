"""Object detection: SSDLite on MobileNet V2 / V3 (mobilenet_tf.heads.ssdlite) trained on
COCO, any COCO-format JSON or Shapes, scored by COCO box AP with pycocotools.

Targets are matched to the anchors in the input pipeline (data.get_detection), so training is
plain model.fit with one loss per output (mobilenet_tf.detection.losses). Validation during
training reports the loss and the positive anchors' class accuracy; COCO AP needs decoding
and NMS over the whole split and is computed at the end of training and by evaluate.py
(split_metrics). Config fields beyond classification's: the `detection` section (see
configs/common.py detection()).
"""
import numpy as np

from mobilenet_tf import UserError, data, models
from mobilenet_tf.data import box_pipeline
from mobilenet_tf.detection import anchors as anchors_lib, losses, postprocess
from mobilenet_tf.detection.coco_metrics import CocoEvaluator
from mobilenet_tf.tasks import classification, weights
from mobilenet_tf.tasks.base import Task, predict_batches

TARGET_KEYS = ("boxes", "classes")


def anchors_of(config):
    """The (A, 4) [cy, cx, h, w] anchors of config's input size and anchor settings."""
    settings = config.detection
    return anchors_lib.ssd_anchors(
        anchors_lib.feature_map_sizes(config.dataset.image_size),
        min_scale=settings.min_scale, max_scale=settings.max_scale,
        aspect_ratios=tuple(settings.aspect_ratios))


def inference_model(config, model):
    """The model with decoding and per-class NMS (config.detection's thresholds): images ->
    {"boxes", "scores", "classes", "num_detections"}."""
    settings = config.detection
    return postprocess.detection_model(
        model, anchors_of(config),
        score="sigmoid" if settings.classification_loss == "focal" else "softmax",
        score_threshold=settings.score_threshold, iou_threshold=settings.iou_threshold,
        max_per_class=settings.max_per_class, max_detections=settings.max_detections)


class DetectionTask(Task):
    """SSDLite box regression and classification per anchor, scored by COCO box AP."""

    name = "detection"
    DATASETS = tuple(data.DETECTION_DATASETS)
    METRIC_NAMES = ("loss", "boxes_loss", "classes_loss", "classes_positive_accuracy")
    BEST_METRIC = "classes_positive_accuracy"   # higher is better; AP is computed at the end
    # COCOeval's (T, R, K, A, M) precision array of the last split_metrics (None before, or
    # without detections): the PR curves of evaluate.py --plots_dir and of TensorBoard.
    last_precision = None

    def check_config(self, config):
        """Task.check_config, and a classification loss this task has."""
        super().check_config(config)
        if config.detection.classification_loss not in ("focal", "softmax"):
            raise UserError(f"detection.classification_loss="
                            f"{config.detection.classification_loss!r}: use focal or softmax")

    def build_model(self, config, num_classes):
        """SSDLite: uint8 or [0, 255] (B, S, S, 3) images -> {"boxes": (B, A, 4) deltas,
        "classes": (B, A, num_classes + 1) logits}, float32."""
        self.check_config(config)
        settings = config.detection
        size = config.dataset.image_size
        focal = settings.classification_loss == "focal"
        options = dict(input_shape=(size, size, 3), num_classes=num_classes,
                       width=config.model.width, bn_momentum=config.model.bn_momentum,
                       bn_epsilon=config.model.bn_epsilon, include_preprocessing=True,
                       aspect_ratios=tuple(settings.aspect_ratios),
                       class_prior=settings.class_prior if focal else None)
        model = models.build(models.canonical_name(config.model.name),
                             **{**options, **config.model.options.to_dict()})
        classification.add_weight_decay(model, config.train.weight_decay,
                                        config.train.regularize_depthwise)
        return model

    def build_inputs(self, config, split, *, training, input_context=None, epoch=0,
                     skip_batches=0, groundtruth=False):
        """(tf.data.Dataset of (uint8 images, {"boxes": (B, A, 5), "classes": (B, A)}),
        DatasetInfo); groundtruth=True: the unpacked targets of data.get_detection with each
        image's boxes for COCO evaluation. Seeded per epoch, as classification's."""
        settings, detection = config.dataset, config.detection
        augment = training and settings.augment
        augmentation = data.BoxAugmentation(
            crop=augment and detection.crop, expand=augment and detection.expand,
            photometric=augment and detection.photometric, flip=augment and detection.flip)
        dataset, info = data.get_detection(
            settings.name, split, anchors=anchors_of(config), image_size=settings.image_size,
            batch_size=config.train.batch_size, data_dir=settings.data_dir or None,
            training=training, seed=config.train.seed * 100_003 + epoch,
            input_context=input_context, shuffle_buffer=settings.shuffle_buffer,
            drop_remainder=training, skip_batches=skip_batches if training else 0,
            groundtruth=groundtruth, max_boxes=detection.max_boxes, augmentation=augmentation,
            autotune=settings.get("autotune", "auto"), **settings.options.to_dict())
        if groundtruth:
            return dataset, info
        return box_pipeline.with_packed_targets(dataset), info

    def build_loss(self, config):
        """{"boxes": smooth L1, "classes": focal or hard-negative softmax}, over the positives."""
        settings = config.detection
        return losses.ssd_losses(settings.classification_loss, alpha=settings.focal_alpha,
                                 gamma=settings.focal_gamma,
                                 negatives_per_positive=settings.negatives_per_positive,
                                 box_weight=settings.box_weight, class_weight=settings.class_weight)

    def build_metrics(self, config):
        """The positive anchors' class accuracy (on the "classes" output), and each output's
        loss weighted by batch size (losses.OutputLoss: Keras's own per-output losses do
        not add up to the loss on an evaluation split)."""
        loss = self.build_loss(config)
        return {"boxes": [losses.OutputLoss(loss["boxes"])],
                "classes": [losses.PositiveAccuracy(), losses.OutputLoss(loss["classes"])]}

    def split_metrics(self, config, model, split=None):
        """COCO box AP, AP50, AP75, APs, APm, APl (fractions) of `model` over a whole split
        (default: the eval split), from pycocotools' COCOeval."""
        split = split or config.dataset.eval_split
        dataset, info = self.build_inputs(config, split, training=False, groundtruth=True)
        detector = inference_model(config, model)
        # predict_on_batch traces the NMS once; a few eager batches (--smoke_test) skip that.
        run = detector.predict_on_batch
        if config.runtime.get("run_eagerly", False):
            run = lambda images: detector(images, training=False)   # noqa: E731
        evaluator = CocoEvaluator(info.num_classes)
        for detections, targets in predict_batches(run, dataset):
            evaluator.add(detections, {k: np.asarray(v) for k, v in targets.items()
                                       if k not in TARGET_KEYS})
        result = evaluator.result()
        self.last_precision = evaluator.precision
        return result

    def init_from(self, model, source, config):
        """weights.init_by_name: the backbone's ImageNet weights, or a saved model's."""
        return weights.init_by_name(model, source, config)

    def export_hook(self, config=None, **options):
        """export.detection's hook for this run's anchors and NMS settings (options:
        postprocess="graph" | "tflite_op")."""
        from mobilenet_tf.export import detection as hook   # export imports the tasks
        if config is None:
            raise UserError("exporting a detection model needs its run's config (its "
                            "anchors and NMS settings): give --model_dir")
        return hook.configure(config, **options)
