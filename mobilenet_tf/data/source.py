"""What every dataset loader returns: raw examples of one split, and facts about the dataset."""
import dataclasses
import io
import os
from typing import Callable, Optional

import tensorflow as tf

from mobilenet_tf import UserError


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """Metadata of one split. num_examples counts the whole split, over all workers."""
    name: str
    split: str
    num_classes: int
    class_names: tuple
    num_examples: int
    image_size: int = 0
    label_format: str = "index"   # "index": int32 class ids; "one_hot": mixed float vectors
    # COCO-format detection data: the original category id of each class index, to write
    # detections back in COCO's terms (empty for other datasets).
    category_ids: tuple = ()


@dataclasses.dataclass(frozen=True)
class Source:
    """A loader's result: unbatched examples {"image_bytes" or "image", "label"} (this worker's
    shard, files already interleaved and, for training, shuffled at the file level), the
    metadata, and whether the images are photos (Inception crop and central crop) or
    synthetic images to keep whole (resize only).

    parse, when given, turns an element of `examples` into that dict (reads the file, parses
    the record); the pipeline runs it with the decode, so a failure skips one example."""
    examples: tf.data.Dataset
    info: DatasetInfo
    parse: Optional[Callable] = None
    photos: bool = True
    default_image_size: int = 224


def check_data_dir(dataset, data_dir, split, splits, how_to):
    """UserError unless data_dir is an existing directory and split one of `splits`; how_to
    says where to get the data (shared by the loaders that read --data_dir)."""
    if not data_dir:
        raise UserError(f"{dataset} needs --data_dir: a directory to read it from; {how_to}")
    if not os.path.isdir(data_dir):
        raise UserError(f"--data_dir {data_dir} does not exist; {how_to}")
    if split not in splits:
        raise UserError(f"{dataset} has splits train and validation, not '{split}'")


@dataclasses.dataclass(frozen=True)
class Survey:
    """What a recipe for your own data derives its settings from, read without building the
    input pipeline: the split's number of examples and each image's (height, width)."""
    num_examples: int
    sizes: tuple   # ((height, width), ...), one per image

    def typical_size(self):
        """(height, width): the medians over the images (the lower middle for an even count,
        so the figure is one of the images' own)."""
        heights = sorted(height for height, _ in self.sizes)
        widths = sorted(width for _, width in self.sizes)
        middle = (len(heights) - 1) // 2
        return heights[middle], widths[middle]

    def largest_size(self):
        """(height, width): the largest height and the largest width over the images."""
        return (max(height for height, _ in self.sizes), max(width for _, width in self.sizes))


def image_file_size(path):
    """(height, width) of an image file from its header, without decoding the pixels
    (Pillow, which matplotlib in requirements.txt installs); None for a file that is not a
    readable image, which the input pipeline skips as corrupt too."""
    import PIL.Image
    try:
        with PIL.Image.open(path) as image:
            width, height = image.size
    except (OSError, ValueError):
        return None
    return height, width


def image_sizes(paths):
    """((height, width), ...) of the readable images among `paths`, from their headers."""
    return tuple(size for size in map(image_file_size, paths) if size is not None)


def image_bytes_size(encoded):
    """image_file_size() of an encoded image held in memory (a TFDS record's bytes)."""
    return image_file_size(io.BytesIO(encoded))
