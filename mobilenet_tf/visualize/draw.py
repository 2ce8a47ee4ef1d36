"""Predictions drawn on images, in numpy and Pillow: boxes with class names and scores, mask
overlays, a caption, a confusion matrix, and grids of them. Pure functions of uint8 (H, W, 3)
arrays, returning new arrays; no TensorFlow, so predict.py, the TensorBoard summaries and
evaluate.py's plots draw alike.

    image = draw_boxes(image, boxes, ["circle 0.93"], colors=palette(6)[[0]])
    image = overlay(image, class_map, palette(7, background=True))
"""
import colorsys
import io

import numpy as np
from PIL import Image, ImageDraw, ImageFont

GOLDEN_RATIO = 0.618034   # hue step between classes: neighbours far apart, never repeating
MASK_ALPHA = 0.5          # overlay: half image, half class colour
BACKGROUND = (0, 0, 0)


def palette(num_classes, background=False):
    """(num_classes, 3) uint8 colours, one per class, saturated and far apart in hue; with
    background=True class 0 (segmentation's background) is black, drawn as no colour."""
    colours = [tuple(int(255 * c) for c in colorsys.hsv_to_rgb((i * GOLDEN_RATIO) % 1.0,
                                                               0.85, 1.0))
               for i in range(num_classes)]
    if background and num_classes:
        colours[0] = BACKGROUND
    return np.asarray(colours, np.uint8).reshape(-1, 3)


def _font():
    return ImageFont.load_default()


def _line_width(image):
    return max(1, round(min(image.shape[:2]) / 160))


def enlarge(image, min_side=160):
    """`image` scaled up (nearest neighbour) so its shorter side is at least min_side, so
    text drawn on a small training image stays readable; larger images are kept."""
    scale = -(-min_side // max(min(image.shape[:2]), 1))
    if scale <= 1:
        return image
    return np.repeat(np.repeat(image, scale, axis=0), scale, axis=1)


def pixel_boxes(boxes, height, width):
    """(N, 4) normalised [ymin, xmin, ymax, xmax] (the detection outputs) -> (N, 4) float64
    [x0, y0, x1, y1] in the pixels of an image of height x width."""
    ymin, xmin, ymax, xmax = (np.asarray(boxes, np.float64).reshape(-1, 4)
                              * [height, width, height, width]).T
    return np.stack([xmin, ymin, xmax, ymax], -1)


def draw_boxes(image, boxes, texts, colors, width=None):
    """uint8 (H, W, 3) image with (N, 4) pixel boxes [x0, y0, x1, y1] drawn as rectangles
    of `colors` (N, 3), each with its text (class name and score) on a filled tab above its
    top-left corner (inside the box when there is no room above)."""
    canvas = Image.fromarray(np.asarray(image, np.uint8))
    pen = ImageDraw.Draw(canvas)
    font, width = _font(), width or _line_width(np.asarray(image))
    for box, text, colour in zip(np.asarray(boxes, np.float64).reshape(-1, 4), texts,
                                 np.asarray(colors).reshape(-1, 3)):
        colour = tuple(int(c) for c in colour)
        x0, y0, x1, y1 = (float(v) for v in box)
        pen.rectangle([x0, y0, max(x1 - 1, x0), max(y1 - 1, y0)], outline=colour, width=width)
        if text:
            _tab(pen, x0, y0, text, colour, font, below=width)
    return np.asarray(canvas)


def _tab(pen, x, y, text, colour, font, below=0):
    """`text` on a filled tab whose bottom-left corner is (x, y), or whose top-left corner
    is (x, y + below) when there is no room above."""
    left, top, right, bottom = pen.textbbox((0, 0), text, font=font)
    tab_h, tab_w = bottom - top + 2, right - left + 4
    ty = y - tab_h if y - tab_h >= 0 else y + below
    pen.rectangle([x, ty, x + tab_w, ty + tab_h], fill=colour)
    pen.text((x + 2, ty + 1 - top), text, fill=_ink(colour), font=font)


def label(image, text, colour=(255, 255, 255)):
    """uint8 (H, W, 3) image, same size, with `text` on a tab at its top-left corner (a
    classifier's answer)."""
    canvas = Image.fromarray(np.asarray(image, np.uint8))
    _tab(ImageDraw.Draw(canvas), 0, 0, text, tuple(int(c) for c in colour), _font())
    return np.asarray(canvas)


def _ink(colour):
    """Black or white text, whichever reads better on `colour`."""
    return (0, 0, 0) if sum(0.3 * c for c in colour[:3]) > 110 else (255, 255, 255)


def overlay(image, class_map, colors, alpha=MASK_ALPHA):
    """uint8 (H, W, 3) image blended with the colour of each pixel's class ((H, W) class ids,
    colours (C, 3)); pixels whose colour is black (background) keep the image."""
    image = np.asarray(image, np.float32)
    colours = np.asarray(colors, np.float32)[np.asarray(class_map, np.int64)]
    painted = colours.any(axis=-1, keepdims=True)
    blended = np.where(painted, (1 - alpha) * image + alpha * colours, image)
    return np.clip(blended + 0.5, 0, 255).astype(np.uint8)


def caption(image, lines, colors=None):
    """`image` with text lines on a dark band below it (e.g. "pred circle 0.93",
    "true square"), each in its colour (default white)."""
    image = np.asarray(image, np.uint8)
    font = _font()
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    line_h = max(probe.textbbox((0, 0), "Ag", font=font)[3], 8) + 3
    canvas = Image.new("RGB", (image.shape[1], image.shape[0] + line_h * len(lines) + 2),
                       (32, 32, 32))
    canvas.paste(Image.fromarray(image), (0, 0))
    pen = ImageDraw.Draw(canvas)
    for i, line in enumerate(lines):
        colour = tuple(int(c) for c in (colors[i] if colors else (255, 255, 255)))
        pen.text((3, image.shape[0] + 1 + i * line_h), line, fill=colour, font=font)
    return np.asarray(canvas)


def grid(images, columns=4, gap=2):
    """Images of any sizes tiled row by row on a dark background, each at the top left of
    its cell: one (H, W, 3) uint8 picture for a TensorBoard image summary."""
    images = [np.asarray(image, np.uint8) for image in images]
    rows = [images[i:i + columns] for i in range(0, len(images), columns)]
    cell_h = max(image.shape[0] for image in images)
    cell_w = max(image.shape[1] for image in images)
    columns = min(columns, len(images))
    out = np.full((len(rows) * (cell_h + gap) - gap, columns * (cell_w + gap) - gap, 3), 16,
                  np.uint8)
    for r, row in enumerate(rows):
        for c, image in enumerate(row):
            y, x = r * (cell_h + gap), c * (cell_w + gap)
            out[y:y + image.shape[0], x:x + image.shape[1]] = image
    return out


def side_by_side(left, right, gap=2):
    """Two images next to each other (e.g. ground truth | prediction)."""
    return grid([left, right], columns=2, gap=gap)


def confusion_image(confusion, class_names, max_side=900):
    """A (C, C) confusion matrix (rows true class, columns predicted) as an image: each row
    normalised to the fraction of its true class, white to dark blue, the count written in
    the cell when cells are large enough, class names beside and above."""
    confusion = np.asarray(confusion, np.float64)
    count = len(confusion)
    fractions = confusion / np.maximum(confusion.sum(axis=1, keepdims=True), 1.0)
    cell = int(np.clip(max_side // max(count, 1), 1, 48))
    labelled = cell >= 12
    font = _font()
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    names = [str(name) for name in class_names] if labelled else []
    margin = (max((probe.textbbox((0, 0), name, font=font)[2]
                   for name in names + ["predicted"] * labelled), default=0) + 6)
    # White (0) to dark blue (1).
    ramp = np.array([255, 255, 255], np.float64) + fractions[..., None] * (
        np.array([8, 48, 107], np.float64) - 255)
    cells = np.repeat(np.repeat(ramp.astype(np.uint8), cell, axis=0), cell, axis=1)
    canvas = Image.new("RGB", (margin + cells.shape[1] + 2, margin + cells.shape[0] + 2),
                       (255, 255, 255))
    canvas.paste(Image.fromarray(cells), (margin, margin))
    pen = ImageDraw.Draw(canvas)
    if labelled:   # the corner says which axis is which
        pen.text((2, margin - 24), "true \\", fill=(96, 96, 96), font=font)
        pen.text((2, margin - 12), "predicted", fill=(96, 96, 96), font=font)
    for i, name in enumerate(names):
        pen.text((2, margin + i * cell + cell // 2 - 5), name, fill=(0, 0, 0), font=font)
        # Column names written upwards: drawn on a strip, rotated.
        strip = Image.new("RGB", (margin, cell), (255, 255, 255))
        ImageDraw.Draw(strip).text((2, cell // 2 - 5), name, fill=(0, 0, 0), font=font)
        canvas.paste(strip.rotate(90, expand=True), (margin + i * cell, 0))
    if cell >= 28:
        for (i, j), value in np.ndenumerate(confusion):
            if value:
                pen.text((margin + j * cell + 3, margin + i * cell + cell // 2 - 5),
                         f"{int(value)}", fill=(0, 0, 0) if fractions[i, j] < 0.5
                         else (255, 255, 255), font=font)
    return np.asarray(canvas)


def png_bytes(image):
    """The PNG encoding of a uint8 (H, W, 3) image, or of (H, W) uint8 class ids (a
    greyscale PNG whose pixel values are the ids)."""
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(image, np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()
