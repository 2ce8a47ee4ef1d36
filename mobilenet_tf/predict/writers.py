"""predict.py's outputs, one writer per task, each fed image by image and closed at the
end; every file is written under a temporary name and renamed when complete.

classification  predictions.csv and predictions.json (top-k classes and probabilities),
                with draw: images/NAME.png with the top class and its probability on it
detection       detections.json (COCO results: what pycocotools' loadRes takes, in the
                dataset's category ids, every detection the model returns), images.json (the
                COCO "images" and "categories" those ids refer to), predictions.json (the
                detections at or above score_threshold, in pixels), with draw: images/NAME.png
segmentation    masks/NAME_classes.png (class ids, one byte a pixel, at the image's size),
                with draw: masks/NAME_overlay.png; predictions.json (each class's share)
"""
import csv
import io
import json
import os

import numpy as np

from mobilenet_tf.callbacks import write_text_atomically
from mobilenet_tf.visualize import draw


class Writer:
    """What the task writers share: the output folder, unique file names, drawing."""

    def __init__(self, predictor, output_dir, draw_images):
        self.predictor, self.output_dir, self.draw_images = predictor, output_dir, draw_images
        self.records, self._names = [], set()
        os.makedirs(output_dir, exist_ok=True)

    def name_for(self, path):
        """The output name of an input file: its stem, made unique (photos/a.jpg and
        more/a.jpg -> a, a_1)."""
        stem = os.path.splitext(os.path.basename(path))[0]
        name, i = stem, 0
        while name in self._names:
            i += 1
            name = f"{stem}_{i}"
        self._names.add(name)
        return name

    def write_png(self, folder, name, image):
        """image -> output_dir/folder/name.png; the path written."""
        os.makedirs(os.path.join(self.output_dir, folder), exist_ok=True)
        path = os.path.join(self.output_dir, folder, f"{name}.png")
        write_text_atomically(path, draw.png_bytes(image))
        return path

    def write_json(self, filename, value, indent=1):
        write_text_atomically(os.path.join(self.output_dir, filename),
                              json.dumps(value, indent=indent) + "\n")

    def close(self):
        """Writes the collected records: predictions.json; the paths written."""
        self.write_json("predictions.json", self.records)
        return [os.path.join(self.output_dir, "predictions.json")]


class ClassificationWriter(Writer):
    """Top-k classes per image: predictions.csv, predictions.json, optional captioned images."""

    def __init__(self, predictor, output_dir, draw_images, top_k=5):
        super().__init__(predictor, output_dir, draw_images)
        self.top_k = top_k

    def add(self, path, image, outputs):
        probabilities = np.asarray(outputs["probabilities"], np.float64)
        names = self.predictor.class_names(len(probabilities))
        order = np.argsort(-probabilities, kind="stable")[:self.top_k]
        top = [{"class_id": int(i), "class": names[i], "probability": float(probabilities[i])}
               for i in order]
        record = {"file": path, "height": image.shape[0], "width": image.shape[1], "top_k": top}
        if self.draw_images:
            best = top[0]
            shown = draw.label(image, f"{best['class']} {best['probability']:.2f}",
                               draw.palette(len(probabilities))[best["class_id"]])
            record["drawn"] = self.write_png("images", self.name_for(path), shown)
        self.records.append(record)

    def close(self):
        written = super().close()
        text = io.StringIO()
        out = csv.writer(text)
        out.writerow(["file", "width", "height"] + [f"{field}_{rank}" for rank in
                                                    range(1, self.top_k + 1)
                                                    for field in ("class", "probability")])
        for record in self.records:
            out.writerow([record["file"], record["width"], record["height"]] + [
                value for entry in record["top_k"]
                for value in (entry["class"], f"{entry['probability']:.6f}")])
        path = os.path.join(self.output_dir, "predictions.csv")
        write_text_atomically(path, text.getvalue())
        return written + [path]


class DetectionWriter(Writer):
    """Boxes in the image's pixels: COCO results, the images they refer to, drawn images."""

    def __init__(self, predictor, output_dir, draw_images, score_threshold=0.3,
                 image_ids=None):
        super().__init__(predictor, output_dir, draw_images)
        self.score_threshold = score_threshold
        self.image_ids = image_ids or {}   # file name -> COCO image id (--coco_annotations)
        self.results, self.images = [], []

    def image_id(self, path):
        """The image's id in --coco_annotations (matched by path, else file name), else its
        position among the images predicted, from 1."""
        for key in (path, os.path.normpath(path), os.path.basename(path)):
            if key in self.image_ids:
                return self.image_ids[key]
        return len(self.images) + 1

    def add(self, path, image, outputs):
        height, width = image.shape[:2]
        count = int(round(float(outputs["num_detections"])))
        classes = np.rint(np.asarray(outputs["classes"][:count])).astype(np.int64)
        scores = np.asarray(outputs["scores"][:count], np.float64)
        # Clipped to the image: a TFLite file with LiteRT's NMS op gives the op's boxes,
        # which may reach past an edge (export.detection); the other artifacts' already are.
        boxes = draw.pixel_boxes(np.clip(outputs["boxes"][:count], 0.0, 1.0), height, width)
        num_classes = max(len((self.predictor.label_map or {}).get("class_names") or []),
                          int(classes.max(initial=-1)) + 1)
        names = self.predictor.class_names(num_classes)
        ids = self.predictor.category_ids(num_classes)
        image_id = self.image_id(path)
        self.images.append({"id": image_id, "file_name": path, "height": height,
                            "width": width})
        for box, cls, score in zip(boxes, classes, scores):
            self.results.append({"image_id": image_id, "category_id": ids[cls],
                                 "bbox": [box[0], box[1], box[2] - box[0], box[3] - box[1]],
                                 "score": float(score)})
        shown = scores >= self.score_threshold
        record = {"file": path, "image_id": image_id, "height": height, "width": width,
                  "detections": [{"class_id": int(cls), "class": names[cls],
                                  "category_id": ids[cls], "score": float(score),
                                  "box": [float(v) for v in box]}
                                 for box, cls, score in zip(boxes[shown], classes[shown],
                                                            scores[shown])]}
        if self.draw_images:   # the best last, on top (per-class NMS keeps overlaps)
            order = np.flatnonzero(shown)[::-1]
            texts = [f"{names[c]} {s:.2f}" for c, s in zip(classes[order], scores[order])]
            record["drawn"] = self.write_png("images", self.name_for(path), draw.draw_boxes(
                image, boxes[order], texts, draw.palette(num_classes)[classes[order]]))
        self.records.append(record)

    def close(self):
        written = super().close()
        names = self.predictor.class_names(len((self.predictor.label_map or {}).get(
            "class_names") or []))
        ids = self.predictor.category_ids(len(names))
        self.write_json("detections.json", self.results, indent=None)   # COCO's own style
        self.write_json("images.json", {"images": self.images, "categories": [
            {"id": i, "name": name} for i, name in zip(ids, names)]})
        return written + [os.path.join(self.output_dir, name)
                          for name in ("detections.json", "images.json")]


class SegmentationWriter(Writer):
    """Class-id PNGs at the image's size, colour overlays, each class's share of the pixels."""

    def add(self, path, image, outputs):
        class_map = np.asarray(outputs["class_map"]).astype(np.uint8)
        num_classes = max(len((self.predictor.label_map or {}).get("class_names") or []),
                          int(class_map.max()) + 1)
        names = self.predictor.class_names(num_classes)
        name = self.name_for(path)
        counts = np.bincount(class_map.reshape(-1), minlength=num_classes)
        record = {"file": path, "height": image.shape[0], "width": image.shape[1],
                  "class_ids": self.write_png("masks", f"{name}_classes", class_map),
                  "class_fractions": {names[c]: float(counts[c] / class_map.size)
                                      for c in np.flatnonzero(counts)}}
        if self.draw_images:
            record["overlay"] = self.write_png("masks", f"{name}_overlay", draw.overlay(
                image, class_map, draw.palette(num_classes, background=True)))
        self.records.append(record)


WRITERS = {"classification": ClassificationWriter, "detection": DetectionWriter,
           "segmentation": SegmentationWriter}
