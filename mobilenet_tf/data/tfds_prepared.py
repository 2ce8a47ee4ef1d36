"""`tfds:NAME`: any TFDS image classification dataset already prepared in --data_dir.

Reads the prepared files with `tfds.builder_from_directory`, which needs neither the builder's
code nor the network, so nothing is ever downloaded. Images stay encoded (SkipDecoding) so
the training crop decodes only its window.
"""
import os

import tensorflow as tf

from mobilenet_tf import UserError
from mobilenet_tf.data.source import DatasetInfo, Source, Survey, image_bytes_size

# A split asked for as "validation" falls back to what the dataset calls it.
_SPLIT_ALIASES = {"validation": ("validation", "val", "test"), "val": ("val", "validation")}


def _version_key(version):
    return tuple(int(part) if part.isdigit() else -1 for part in version.split("."))


def find_prepared(data_dir, name):
    """data_dir/NAME[/CONFIG]/VERSION holding dataset_info.json (the newest version), or None."""
    base = os.path.join(data_dir, *name.split("/"))
    if not os.path.isdir(base):
        return None
    versions = [entry for entry in os.listdir(base)
                if os.path.isfile(os.path.join(base, entry, "dataset_info.json"))]
    if not versions:
        return None
    return os.path.join(base, max(versions, key=_version_key))


def _features_keys(info):
    """(image key, label key): the supervised keys, else the first Image and ClassLabel."""
    import tensorflow_datasets as tfds   # slow to import; only TFDS users pay for it
    if info.supervised_keys and len(info.supervised_keys) == 2:
        return info.supervised_keys
    features = info.features
    image = [key for key, value in features.items() if isinstance(value, tfds.features.Image)]
    label = [key for key, value in features.items()
             if isinstance(value, tfds.features.ClassLabel)]
    if not image or not label:
        raise UserError(f"TFDS dataset {info.name} has no image and class label features "
                        f"(it has {sorted(features)}); only image classification datasets load")
    return image[0], label[0]


def _resolve_split(split, available, name):
    base = split.split("[")[0]
    for candidate in _SPLIT_ALIASES.get(base, (base,)):
        if candidate in available:
            return candidate + split[len(base):]
    raise UserError(f"TFDS dataset {name} has no split '{base}'; it has "
                    f"{', '.join(sorted(available))} (slices like 'train[:90%]' work too)")


def load_prepared(path, split, *, name, training, seed, input_context):
    """The split of the dataset prepared at `path` (see find_prepared) as a Source."""
    import tensorflow_datasets as tfds
    builder = tfds.builder_from_directory(path)
    split = _resolve_split(split, builder.info.splits.keys(), name)
    image_key, label_key = _features_keys(builder.info)
    read_config = tfds.ReadConfig(input_context=input_context, shuffle_seed=seed,
                                  interleave_cycle_length=16)
    examples = builder.as_dataset(split=split, shuffle_files=training, read_config=read_config,
                                  decoders={image_key: tfds.decode.SkipDecoding()})
    examples = examples.map(lambda ex: {"image_bytes": ex[image_key],
                                        "label": tf.cast(ex[label_key], tf.int32)})
    label = builder.info.features[label_key]
    info = DatasetInfo(name=name, split=split, num_classes=label.num_classes,
                       class_names=tuple(label.names),
                       num_examples=builder.info.splits[split].num_examples)
    return Source(examples, info)


# Images whose headers survey() reads when the image feature has no fixed size: enough for a
# median, a fraction of a second of reading.
SURVEY_SAMPLE = 256


def survey(name, split, *, data_dir=None, **unused_options):
    """A Survey of the prepared dataset's split: the example count from its dataset_info,
    and the image sizes from the image feature's shape when fixed (CIFAR's 32x32), else
    from the headers of its first SURVEY_SAMPLE encoded images (nothing is decoded)."""
    import tensorflow_datasets as tfds
    builder = tfds.builder_from_directory(_prepared_path(name, data_dir))
    split = _resolve_split(split, builder.info.splits.keys(), name)
    image_key, _ = _features_keys(builder.info)
    count = builder.info.splits[split].num_examples
    height, width, _ = builder.info.features[image_key].shape
    if height and width:
        return Survey(num_examples=count, sizes=((height, width),))
    encoded = builder.as_dataset(split=split, decoders={image_key: tfds.decode.SkipDecoding()})
    sizes = [image_bytes_size(example[image_key].numpy())
             for example in encoded.take(SURVEY_SAMPLE)]
    return Survey(num_examples=count, sizes=tuple(size for size in sizes if size))


def _prepared_path(name, data_dir):
    if not data_dir:
        raise UserError(f"tfds:{name} needs --data_dir: the TFDS data dir where {name} is "
                        "prepared (tfds build " + name + " --data_dir=DIR, on a machine online)")
    path = find_prepared(data_dir, name)
    if path is None:
        raise UserError(f"no prepared TFDS dataset {name} in {data_dir} (looked for "
                        f"{os.path.join(data_dir, name, 'VERSION', 'dataset_info.json')}); "
                        f"prepare it with: tfds build {name} --data_dir={data_dir}")
    return path


def load(name, split, *, data_dir, training, seed, input_context):
    """`tfds:NAME` (NAME may be NAME/CONFIG): the prepared dataset in data_dir, never
    downloaded."""
    return load_prepared(_prepared_path(name, data_dir), split, name=f"tfds:{name}",
                         training=training, seed=seed, input_context=input_context)
