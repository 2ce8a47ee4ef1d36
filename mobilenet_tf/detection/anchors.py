"""SSD default boxes ("anchors") for a list of feature maps, in numpy only, so the TensorFlow
input pipeline and the backend-agnostic head and post-processing share one definition.

Semantics of the TF Object Detection API's ssd_anchor_generator (create_ssd_anchors) as the
SSDLite configs use it: scales spaced linearly from min_scale to max_scale over the levels;
at every location one box per aspect ratio at the level's scale, then one more of aspect
ratio `interpolated_scale_aspect_ratio` at sqrt(scale_k * scale_k+1) (1.0 after the last
level); with reduce_first ("reduce_boxes_in_lowest_layer") the first level has only three
boxes: (0.1, ratio 1), (min_scale, 2), (min_scale, 0.5). An aspect ratio is width / height,
so a box of scale s and ratio r has height s / sqrt(r) and width s * sqrt(r).

Boxes are [cy, cx, h, w] normalised by the image's height and width, centred on
((i + 0.5) / H, (j + 0.5) / W), ordered level by level, then row-major over (i, j), then the
boxes of one location in the order above.
"""
import math

import numpy as np

ASPECT_RATIOS = (1.0, 2.0, 0.5, 3.0, 0.333)
_REDUCED_FIRST_LEVEL = ((0.1, 1.0), (None, 2.0), (None, 0.5))   # None: the level's scale


def level_scales(num_levels, min_scale=0.2, max_scale=0.95):
    """The num_levels scales, linear from min_scale to max_scale, plus 1.0 for the level
    after the last (only used for the interpolated box)."""
    if num_levels == 1:
        return [min_scale, 1.0]
    step = (max_scale - min_scale) / (num_levels - 1)
    return [min_scale + step * k for k in range(num_levels)] + [1.0]


def box_specs(level_index, num_levels, *, min_scale=0.2, max_scale=0.95,
              aspect_ratios=ASPECT_RATIOS, reduce_first=True,
              interpolated_scale_aspect_ratio=1.0):
    """[(scale, aspect_ratio), ...] of the boxes at one location of level `level_index`."""
    scales = level_scales(num_levels, min_scale, max_scale)
    scale, next_scale = scales[level_index], scales[level_index + 1]
    if level_index == 0 and reduce_first:
        return [(scale if s is None else s, r) for s, r in _REDUCED_FIRST_LEVEL]
    specs = [(scale, ratio) for ratio in aspect_ratios]
    if interpolated_scale_aspect_ratio > 0:
        specs.append((math.sqrt(scale * next_scale), interpolated_scale_aspect_ratio))
    return specs


def boxes_per_location(level_index, aspect_ratios=ASPECT_RATIOS, reduce_first=True,
                       interpolated_scale_aspect_ratio=1.0):
    """How many boxes each location of level `level_index` has (6 by default, 3 at level 0
    with reduce_first): the number of outputs per location the head predicts."""
    if level_index == 0 and reduce_first:
        return len(_REDUCED_FIRST_LEVEL)
    return len(aspect_ratios) + (1 if interpolated_scale_aspect_ratio > 0 else 0)


def feature_map_sizes(image_size, num_levels=6):
    """[(H, W), ...] of SSD's levels for a square image_size input: stride 16 first, then
    halving with 'same' padding (ceil), e.g. 320 -> 20, 10, 5, 3, 2, 1."""
    size = math.ceil(image_size / 16)
    sizes = []
    for _ in range(num_levels):
        sizes.append((size, size))
        size = math.ceil(size / 2)
    return sizes


def ssd_anchors(feature_map_sizes, *, min_scale=0.2, max_scale=0.95,
                aspect_ratios=ASPECT_RATIOS, reduce_first=True,
                interpolated_scale_aspect_ratio=1.0):
    """List of (H, W) per level, highest resolution first -> float32 (A, 4) [cy, cx, h, w]."""
    levels = []
    num_levels = len(feature_map_sizes)
    for level, (height, width) in enumerate(feature_map_sizes):
        specs = box_specs(level, num_levels, min_scale=min_scale, max_scale=max_scale,
                          aspect_ratios=aspect_ratios, reduce_first=reduce_first,
                          interpolated_scale_aspect_ratio=interpolated_scale_aspect_ratio)
        scales, ratios = np.array(specs, np.float64).T
        box_h, box_w = scales / np.sqrt(ratios), scales * np.sqrt(ratios)   # (K,)
        cy, cx = np.meshgrid((np.arange(height) + 0.5) / height,
                             (np.arange(width) + 0.5) / width, indexing="ij")   # (H, W)
        shape = (height, width, len(specs))
        boxes = np.stack([np.broadcast_to(cy[..., None], shape),
                          np.broadcast_to(cx[..., None], shape),
                          np.broadcast_to(box_h, shape), np.broadcast_to(box_w, shape)], -1)
        levels.append(boxes.reshape(-1, 4))
    return np.concatenate(levels).astype(np.float32)
