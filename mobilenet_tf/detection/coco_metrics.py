"""COCO box AP (pycocotools' COCOeval, the official evaluation) from batches of detections
and ground truth, built in memory, so Shapes and any COCO-format dataset are scored alike.

    evaluator = CocoEvaluator(num_classes)
    for each batch: evaluator.add(detections, targets)   # numpy dicts, see add()
    evaluator.result()   # {"AP", "AP50", "AP75", "APs", "APm", "APl", "per_class_AP"}
    evaluator.precision  # then COCOeval's (T, R, K, A, M) precision, for PR curves

Boxes are converted to COCO's [x, y, width, height] in the original image's pixels (the
`original_size` of each example), ground-truth areas are the dataset's (`gt_area`: the
annotation's segment area for COCO, so small / medium / large match the official split),
and crowd boxes (`gt_is_crowd`) are COCO's iscrowd regions.
"""
import contextlib
import io

import numpy as np

METRIC_KEYS = ("AP", "AP50", "AP75", "APs", "APm", "APl")   # COCOeval.stats[0:6]


def _xywh(boxes, height, width):
    """(N, 4) normalised [ymin, xmin, ymax, xmax] -> (N, 4) pixel [x, y, w, h]."""
    scale = np.array([height, width, height, width], np.float64)
    ymin, xmin, ymax, xmax = (np.asarray(boxes, np.float64) * scale).T
    return np.stack([xmin, ymin, xmax - xmin, ymax - ymin], -1)


class CocoEvaluator:
    """Collects ground truth and detections image by image; result() runs COCOeval (bbox).
    Categories are class index + 1 on both sides (COCO ids need not be contiguous)."""

    def __init__(self, num_classes):
        self.num_classes = num_classes
        self.images, self.annotations, self.detections = [], [], []
        self.precision = None   # set by result(): COCOeval's eval["precision"]

    def add(self, detections, targets):
        """detections: {"boxes" (B, N, 4), "scores" (B, N), "classes" (B, N), "num_detections"
        (B,)}; targets: {"image_id" (B,), "original_size" (B, 2), "gt_boxes" (B, M, 4),
        "gt_classes" (B, M) (-1 padding), "gt_is_crowd" (B, M), "gt_area" (B, M)}."""
        for b, image_id in enumerate(np.asarray(targets["image_id"]).tolist()):
            height, width = (int(v) for v in np.asarray(targets["original_size"])[b])
            self.images.append({"id": image_id, "height": height, "width": width})
            real = np.asarray(targets["gt_classes"])[b] >= 0
            boxes = _xywh(np.asarray(targets["gt_boxes"])[b][real], height, width)
            for box, cls, crowd, area in zip(boxes, np.asarray(targets["gt_classes"])[b][real],
                                             np.asarray(targets["gt_is_crowd"])[b][real],
                                             np.asarray(targets["gt_area"])[b][real]):
                # ids from 1: COCOeval reads a matched id of 0 as "unmatched".
                self.annotations.append({
                    "id": len(self.annotations) + 1, "image_id": image_id,
                    "category_id": int(cls) + 1, "bbox": box.tolist(), "area": float(area),
                    "iscrowd": int(bool(crowd))})
            count = int(np.asarray(detections["num_detections"])[b])
            boxes = _xywh(np.asarray(detections["boxes"])[b][:count], height, width)
            for box, cls, score in zip(boxes, np.asarray(detections["classes"])[b][:count],
                                       np.asarray(detections["scores"])[b][:count]):
                self.detections.append({"image_id": image_id, "category_id": int(cls) + 1,
                                        "bbox": box.tolist(), "score": float(score)})

    def result(self):
        """{"AP", "AP50", "AP75", "APs", "APm", "APl"}: COCOeval's first six stats as
        fractions; 0.0 with no detections, None for an area range with no ground truth; and
        "per_class_AP", the AP of each class index (None: no ground truth of that class).
        Keeps COCOeval's precision array in self.precision (None with no detections)."""
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
        if not self.detections:
            return {**dict.fromkeys(METRIC_KEYS, 0.0), "per_class_AP": [0.0] * self.num_classes}
        with contextlib.redirect_stdout(io.StringIO()):   # pycocotools prints progress
            ground_truth = COCO()
            ground_truth.dataset = {
                "images": self.images, "annotations": self.annotations,
                "categories": [{"id": c + 1} for c in range(self.num_classes)]}
            ground_truth.createIndex()
            evaluation = COCOeval(ground_truth, ground_truth.loadRes(self.detections), "bbox")
            evaluation.evaluate()
            evaluation.accumulate()
            evaluation.summarize()
        # COCOeval gives -1 where no ground truth falls in the area range.
        result = {key: (float(value) if value >= 0 else None)
                  for key, value in zip(METRIC_KEYS, evaluation.stats[:6])}
        self.precision = evaluation.eval["precision"]
        return {**result, "per_class_AP": _per_class_ap(evaluation.eval["precision"])}


def _per_class_ap(precision):
    """AP of each class (all areas, 100 detections) from COCOeval's (T, R, K, A, M)
    precision; None for a class without ground truth (-1 there)."""
    per_class = []
    for k in range(precision.shape[2]):
        values = precision[:, :, k, 0, -1]
        values = values[values > -1]
        per_class.append(float(values.mean()) if values.size else None)
    return per_class
