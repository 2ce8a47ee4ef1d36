"""Detection's export hook (SSDLite): the signature returns what the Keras detection model
(mobilenet_tf.detection.postprocess.detection_model) returns, boxes, scores, classes and count
after non-maximum suppression, and an artifact is compared with it detection by detection
and by COCO AP on the check images' boxes.

Outputs (N = max_detections, best first, zero-padded after num_detections):
    boxes           (B, N, 4) float32, normalised [ymin, xmin, ymax, xmax], clipped to [0, 1]
                    (not clipped from TFLite_Detection_PostProcess: see below)
    scores          (B, N) float32
    classes         (B, N) class ids 0..C-1 (background is not a class): int32, or float32
                    from TFLite_Detection_PostProcess
    num_detections  (B,) int32, or float32 from TFLite_Detection_PostProcess

Where the NMS runs (`postprocess`, export.py --detection_postprocess):
  tflite_op      the default. TFLite formats: decoding and NMS by LiteRT's
                 TFLite_Detection_PostProcess custom op (built into the LiteRT interpreter
                 and the phone runtimes: what MediaPipe's and the Task Library's object
                 detectors expect), regular per-class NMS as ours; the other formats keep
                 the graph NMS. The file ends at the op, whose four float32 outputs are the
                 file's, so the network before it is one XNNPACK partition in float32 and
                 int8 alike (a clip after the op would be a second one, and in int8 it
                 would be quantized, boxes to 8 bits). So its boxes are the op's decoded
                 boxes, not clipped to the image: a box may reach past an edge, as in the
                 OD API's TFLite detectors; the check (compare) and predict.py clip them.
  graph          every format: postprocess.py's greedy per-class NMS, traced into the graph.
                 In TFLite it is built-in kernels only (a WHILE loop over the sorted
                 candidates, TOPK_V2, GATHER, CUMSUM), which XNNPACK does not run: the same
                 detections as Keras, at several times the network's time
                 (benchmarks/RESULTS.md).
The op's fast mode (use_regular_nms=False, the OD API's default) is not offered: it keeps
one class per anchor (its best) and suppresses across classes, so a box of one class removes
an overlapping box of another, and its detections are not the Keras model's.
The op differs from ours in corners: it keeps every candidate over the score threshold (ours
the 200 best per class), passes scores equal to the threshold (ours above it) and keeps at
most 100 detections per class whatever detection.max_per_class says (the converter drops
that attribute). Its regular NMS also has a bug in LiteRT (ai-edge-litert 2.3.0, and
tensorflow/tensorflow#56058): at num_threads=2 it loses the detections of some classes (1, 3
or 4 threads are right), so the check and predict.py run it at 1 thread; an app should
not use 2.

Full-integer int8 keeps the NMS in float: with tflite_op the converter dequantizes the int8
model's outputs into the op, which runs in float; the graph NMS would be quantized with the
model (its comparisons and padding break), so tflite_int8 needs tflite_op. Detection outputs
stay float32 in every TFLite format (--int8_io sets the input only).
"""
import numpy as np
import tensorflow as tf
from keras import ops

from mobilenet_tf import UserError
from mobilenet_tf.detection import anchors as anchors_lib, box_coder
from mobilenet_tf.detection import postprocess as postprocess_lib
from mobilenet_tf.detection.coco_metrics import CocoEvaluator
from mobilenet_tf.export import converters, graph
from mobilenet_tf.export.hook import ExportHook

BOXES, SCORES, CLASSES, NUM = "boxes", "scores", "classes", "num_detections"
POSTPROCESS = ("tflite_op", "graph")   # the first is the default
OP_NAME = "TFLite_Detection_PostProcess"
MATCH_IOU = 0.5   # an exported detection "is" a Keras one: same class, IoU at least this
TABLE_COLUMNS = (
    ("max_box_diff", "max box diff", "{:.2e}"),
    ("max_score_diff", "max score diff", "{:.2e}"),
    ("matched", "detections matched", "{:.2%}"),
    ("AP", "AP", "{:.2%}"),
    ("ap_delta", "AP - Keras", "{:+.2%}"),
    ("ap50_delta", "AP50 - Keras", "{:+.2%}"),
)


def configure(config, postprocess=POSTPROCESS[0]):
    """The hook for a detection run's config: its anchors, score function and NMS settings
    (config.detection, as evaluate.py uses them)."""
    from mobilenet_tf.tasks import detection as task   # the tasks import export's hooks
    settings = config.detection
    return DetectionExport(
        task.anchors_of(config),
        score="sigmoid" if settings.classification_loss == "focal" else "softmax",
        score_threshold=settings.score_threshold, iou_threshold=settings.iou_threshold,
        max_per_class=settings.max_per_class, max_detections=settings.max_detections,
        postprocess=postprocess)


class DetectionExport(ExportHook):
    """The export hook of one SSDLite model: anchors (A, 4) [cy, cx, h, w], score "sigmoid"
    (focal-loss heads) or "softmax", NMS settings as postprocess.non_max_suppression's, and
    where TFLite runs the NMS (see the module docstring)."""

    TABLE_COLUMNS = TABLE_COLUMNS

    def __init__(self, anchors, *, score="sigmoid",
                 score_threshold=postprocess_lib.SCORE_THRESHOLD,
                 iou_threshold=postprocess_lib.IOU_THRESHOLD,
                 max_per_class=postprocess_lib.MAX_PER_CLASS,
                 max_detections=postprocess_lib.MAX_DETECTIONS, postprocess=POSTPROCESS[0]):
        if postprocess not in POSTPROCESS:
            raise UserError(f"detection post-processing '{postprocess}': use one of "
                            f"{', '.join(POSTPROCESS)}")
        self.anchors = np.asarray(anchors, np.float32)
        self.score = score
        self.options = dict(score_threshold=float(score_threshold),
                            iou_threshold=float(iou_threshold),
                            max_per_class=int(max_per_class), max_detections=int(max_detections))
        self.postprocess = postprocess
        # The custom op needs the converter's permission; everything else is built-in.
        self.tflite_custom_ops = postprocess != "graph"
        # Boxes and scores stay float32 in int8 files: quantized to 8 bits they would lose
        # the precision the NMS and an app need, and the class ids and count are not values.
        self.tflite_float_outputs = True
        # LiteRT's regular NMS is wrong at 2 threads (see above): check the op at 1.
        self.check_threads = 1 if self.tflite_custom_ops else None
        self._postprocess_ops = None
        self._keras_metrics = None   # (id of the reference outputs, their COCO metrics)

    def _layer(self, name=None):
        return postprocess_lib.DetectionPostprocess(self.anchors, score=self.score, name=name,
                                                **self.options)

    def _check_anchors(self, outputs):
        if outputs[BOXES].shape[1] != len(self.anchors):
            raise UserError(f"the model predicts {outputs[BOXES].shape[1]} anchors but the "
                            f"config's anchors are {len(self.anchors)}: export with the run's "
                            "config (dataset.image_size, detection.aspect_ratios)")

    def serving_outputs(self, model, outputs):
        """{"boxes": (B, A, 4) deltas, "classes": (B, A, C + 1) logits} -> the detections,
        by the Keras model's own post-processing layer (keras.ops, traced as TF ops)."""
        self._check_anchors(outputs)
        return self._layer()([outputs[BOXES], outputs[CLASSES]])

    def keras_outputs(self, model, outputs):
        """serving_outputs as a Keras layer (registered, so `.keras` reloads in safe mode)."""
        self._check_anchors(outputs)
        return self._layer(name="postprocess")([outputs[BOXES], outputs[CLASSES]])

    def tflite_outputs(self, model, outputs, int8=False):
        """What TFLite formats compute after the (frozen) model: the graph NMS, or the
        TFLite_Detection_PostProcess op (int8: tflite_int8's graph, whose deltas need no
        cap; see detection_postprocess_op)."""
        if self.postprocess == "graph":
            return self.serving_outputs(model, outputs)
        self._check_anchors(outputs)
        return detection_postprocess_op(
            outputs[BOXES], self._op_scores(outputs[CLASSES]), self.anchors,
            cap_size_deltas=not int8, **self.options)

    @property
    def FORMATS(self):   # noqa: N802 - ExportHook's name
        """The formats this hook exports (tflite_int8 needs the NMS op)."""
        return tuple(fmt for fmt in converters.FORMATS
                     if not (fmt == "tflite_int8" and self.postprocess == "graph"))

    def check_format(self, fmt):
        """UserError when this hook cannot export format `fmt`."""
        if fmt == "tflite_int8" and self.postprocess == "graph":
            raise UserError("cannot export to tflite_int8 with the NMS in the graph: "
                            "full-integer quantization would quantize the NMS too; use "
                            "--detection_postprocess=tflite_op, the default (the model in "
                            "int8, LiteRT's TFLite_Detection_PostProcess in float), or "
                            "tflite_dynamic")
        super().check_format(fmt)

    def filename(self, fmt):
        """converters.FILENAMES, with "_nms_op" before ".tflite" for TFLite files with the NMS
        op: the two variants are different models, and exporting both into one folder (to
        compare them) must not replace one with the other."""
        name = super().filename(fmt)
        if self.postprocess == "tflite_op" and fmt.startswith("tflite_"):
            return name.replace(".tflite", "_nms_op.tflite")
        return name

    def tflite_postprocess_ops(self, model):
        """graph.ops of the TFLite post-processing alone, so the check of the model's fused
        activations can leave its MINIMUM, MAXIMUM, DIV and LOGISTIC ops out."""
        if self._postprocess_ops is None:
            specs = {name: tf.TensorSpec([1, *model.output[name].shape[1:]], tf.float32)
                     for name in (BOXES, CLASSES)}
            function = tf.function(lambda outputs: self.tflite_outputs(model, outputs),
                                   input_signature=[specs], autograph=False)
            converter = tf.lite.TFLiteConverter.from_concrete_functions(
                [function.get_concrete_function()], tf.Module())
            converter.allow_custom_ops = self.tflite_custom_ops
            self._postprocess_ops = graph.ops(converter.convert())
        return self._postprocess_ops

    def _op_scores(self, logits):
        """(1, A, C + 1) logits -> the op's class predictions: probabilities with the
        background in column 0 (the op skips the columns beyond num_classes, from the left)."""
        logits = tf.cast(logits, tf.float32)
        if self.score == "sigmoid":
            return tf.sigmoid(logits)
        return tf.nn.softmax(logits, axis=-1)

    def compare(self, reference, exported, labels):
        """Exported against Keras detections (dicts of numpy arrays) on images whose ground
        truth is `labels` (the groundtruth dict of data.get_detection; None: no AP).

        matched: fraction of the Keras detections with an exported one of the same class at
        IoU >= 0.5; max_box_diff / max_score_diff: the largest coordinate and score
        difference between a matched pair; same_count: fraction of images with as many
        detections; AP, AP50 (COCO, pycocotools) of the export and their differences from
        the Keras model's (keras_AP, keras_AP50, ap_delta, ap50_delta). Exported boxes are
        clipped to the image first, as the Keras model's are (the NMS op's are not).
        """
        exported = {**exported, BOXES: np.clip(exported[BOXES], 0.0, 1.0)}
        result = match(reference, exported)
        if labels is None:
            return result
        ours = self._keras_coco(reference, labels)
        theirs = coco_metrics(exported, labels)
        return {**result, "AP": theirs["AP"], "AP50": theirs["AP50"],
                "keras_AP": ours["AP"], "keras_AP50": ours["AP50"],
                "ap_delta": theirs["AP"] - ours["AP"],
                "ap50_delta": theirs["AP50"] - ours["AP50"]}

    def _keras_coco(self, reference, labels):
        # check() compares every artifact with the same reference: score it once.
        if self._keras_metrics is None or self._keras_metrics[0] != id(reference):
            self._keras_metrics = (id(reference), coco_metrics(reference, labels))
        return self._keras_metrics[1]


def detection_postprocess_op(deltas, class_scores, anchors, *, score_threshold, iou_threshold,
                             max_per_class, max_detections, cap_size_deltas=True):
    """LiteRT's TFLite_Detection_PostProcess on (1, A, 4) box deltas, (1, A, C + 1) class
    probabilities (column 0 background) and (A, 4) [cy, cx, h, w] anchors -> the detections.

    TensorFlow has no such op: this traces a placeholder function carrying the op's name and
    attributes (experimental_implements), which the TFLite converter replaces by the custom
    op (allow_custom_ops); run in TensorFlow it returns zeros. The op decodes with SSD's
    scales (box_coder.SCALES) but without our cap on the size deltas, so the deltas are
    capped first (a MINIMUM, in float32 XNNPACK's); its boxes are not clipped to the image,
    and nothing follows the op (see the module docstring).

    cap_size_deltas=False (tflite_int8): int8 deltas cannot exceed their calibrated range,
    so exp() cannot overflow, which is what the cap guards against, and XNNPACK has no int8
    MINIMUM (nor an int8 form of the cap that survives the tiny ranges of an untrained
    head), so the cap would split the int8 graph. A delta the cap would change (a box over
    62 times its anchor) only occurs when the calibration images produced one, and for
    SSD's anchors (sides >= 0.1) the capped box is already over 6 image widths: clipped to
    the image, the two agree unless its centre lies 3 widths outside it.
    """
    num_classes = int(class_scores.shape[-1]) - 1
    # Regular NMS: per class, as ours (the fast mode suppresses across classes).
    attributes = dict(max_detections=max_detections, max_classes_per_detection=1,
                      detections_per_class=max_per_class, use_regular_nms=True,
                      nms_score_threshold=score_threshold, nms_iou_threshold=iou_threshold,
                      num_classes=num_classes, y_scale=box_coder.SCALES[0],
                      x_scale=box_coder.SCALES[1], h_scale=box_coder.SCALES[2],
                      w_scale=box_coder.SCALES[3])

    @tf.function(experimental_implements=_implements(OP_NAME, attributes), autograph=False)
    def op(box_encodings, class_predictions, anchor_boxes):
        # Outputs in the op's order; their shapes come from the op at conversion.
        zero = tf.constant(0.0)
        return zero, zero, zero, zero

    deltas = tf.cast(deltas, tf.float32)
    if cap_size_deltas:
        cap = box_coder.MAX_LOG_SCALE
        deltas = tf.minimum(deltas, [np.inf, np.inf, box_coder.SCALES[2] * cap,
                                     box_coder.SCALES[3] * cap])
    boxes, classes, scores, count = op(deltas, class_scores, tf.constant(anchors, tf.float32))
    return {BOXES: boxes, CLASSES: classes, SCORES: scores, NUM: count}


def _implements(name, attributes):
    """The experimental_implements text (a NameAttrList proto) naming the op and its
    attributes, as the TFLite converter's SSD post-processing legalisation reads them."""
    def value(v):
        if isinstance(v, bool):
            return f"b: {str(v).lower()}"
        if isinstance(v, int):
            return f"i: {v}"
        return f"f: {float(v)!r}"
    return " ".join([f'name: "{name}"'] + [f'attr {{ key: "{key}" value {{ {value(v)} }} }}'
                                            for key, v in attributes.items()])


def _per_image(outputs, i):
    """(boxes (n, 4), scores (n,), int classes (n,)) of image i's n detections."""
    n = int(round(float(outputs[NUM][i])))
    return (np.asarray(outputs[BOXES][i, :n], np.float64),
            np.asarray(outputs[SCORES][i, :n], np.float64),
            np.rint(np.asarray(outputs[CLASSES][i, :n])).astype(np.int64))


def match(reference, exported):
    """Each Keras detection paired with the exported detection of its class it overlaps
    most: {"matched", "max_box_diff", "max_score_diff", "same_count", "detections"}."""
    matched = total = same = 0
    box_diff = score_diff = 0.0
    images = len(reference[NUM])
    for i in range(images):
        (ours, our_scores, our_classes), (theirs, their_scores, their_classes) = (
            _per_image(reference, i), _per_image(exported, i))
        same += len(ours) == len(theirs)
        total += len(ours)
        if not len(ours) or not len(theirs):
            continue
        overlaps = ops.convert_to_numpy(box_coder.pairwise_iou(ours, theirs))
        iou = np.where(our_classes[:, None] == their_classes[None, :], overlaps, -1.0)
        best = np.argmax(iou, axis=1)
        hit = iou[np.arange(len(ours)), best] >= MATCH_IOU
        matched += int(hit.sum())
        if hit.any():
            box_diff = max(box_diff, float(np.abs(ours[hit] - theirs[best[hit]]).max()))
            score_diff = max(score_diff, float(np.abs(our_scores[hit]
                                                      - their_scores[best[hit]]).max()))
    return {"matched": matched / total if total else 1.0, "max_box_diff": box_diff,
            "max_score_diff": score_diff, "same_count": same / max(images, 1),
            "detections": total}


def coco_metrics(outputs, labels):
    """COCO AP, AP50, ... (pycocotools) of detections `outputs` against ground truth `labels`
    (data.get_detection's groundtruth dict, numpy), as evaluate.py scores a split."""
    labels = {key: np.asarray(value) for key, value in labels.items()}
    detections = {key: np.asarray(value) for key, value in outputs.items()}
    detections[CLASSES] = np.rint(detections[CLASSES]).astype(np.int64)
    detections[NUM] = np.rint(detections[NUM]).astype(np.int64)
    num_classes = int(max(labels["gt_classes"].max(initial=0),
                          detections[CLASSES].max(initial=0))) + 1
    evaluator = CocoEvaluator(num_classes)
    evaluator.add(detections, labels)
    result = evaluator.result()
    return {key: (value if value is not None else 0.0) for key, value in result.items()}


def anchors_for(model, **options):
    """Default SSD anchors for a square SSDLite `model` (anchors.ssd_anchors's options):
    what a model built with models.build's defaults predicts."""
    size = int(model.input_shape[1])
    return anchors_lib.ssd_anchors(anchors_lib.feature_map_sizes(size), **options)

