"""Experiment configs: a recipe file from configs/, then command-line overrides.

    config = load_recipe("configs/mobilenet_v2_imagenet.py")
    apply_overrides(config, ["--config.optimizer.learning_rate=0.1"])

A recipe is a Python file whose get_config() returns an ml_collections.ConfigDict, optionally
taking one string argument given after a colon (`configs/FILE.py:ARG`). Overrides may only set
fields the recipe has (a typo is an error, not a silently new field), except under
`model.options` and `dataset.options`, which pass through to the builder or loader and are
checked there.
"""
import ast
import importlib.util
import json
import os
import sys

import ml_collections

from mobilenet_tf import UserError, models

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG_DIR = os.path.join(REPO_ROOT, "configs")
OVERRIDE_PREFIX = "--config."
# Free-form sections, checked where they are used (models.build, data.get, the optimizer).
OPEN_SECTIONS = ("model.options", "dataset.options", "optimizer.lr_multipliers")


def recipe_for(model, dataset):
    """The recipe file `--model` and `--dataset` pick when no --config is given: the model's
    registry row's recipe for that dataset, else its recipe for other data."""
    return os.path.join(CONFIG_DIR, models.entry(model).recipe_for(dataset))


def smoke_test(config):
    """configs/common.py's smoke(config): any recipe shrunk to a seconds-long Shapes run."""
    _recipes_importable()
    from configs import common
    return common.smoke(config)


def _recipes_importable():
    if REPO_ROOT not in sys.path:   # recipes import configs.common
        sys.path.insert(0, REPO_ROOT)


def load_recipe(spec):
    """The ConfigDict of `path` or `path:arg` (get_config(arg))."""
    path, _, argument = str(spec).partition(":")
    if not os.path.isfile(path):
        raise UserError(f"config file {path} not found; recipes are in {CONFIG_DIR}")
    module = _recipe_module(path)
    if not hasattr(module, "get_config"):
        raise UserError(f"{path} has no get_config() function")
    config = module.get_config(argument) if argument else module.get_config()
    config.recipe = os.path.relpath(os.path.abspath(path), REPO_ROOT) + (
        f":{argument}" if argument else "")
    return config


def finalize(config):
    """The recipe's own finalize(config), for recipes whose settings depend on the flags
    (configs/finetune.py: from scratch without --init_from); None for a recipe without one."""
    module = _recipe_module(os.path.join(REPO_ROOT, config.recipe.partition(":")[0]))
    return module.finalize(config) if hasattr(module, "finalize") else None


def describe(config):
    """The recipe's describe(config): one log line of the settings it derived (recipes for
    your own data), or None for a recipe without one or with nothing to say."""
    module = _recipe_module(os.path.join(REPO_ROOT, config.recipe.partition(":")[0]))
    return module.describe(config) if hasattr(module, "describe") else None


def _recipe_module(path):
    _recipes_importable()
    module_name = "_recipe_" + os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def split_override_args(argv):
    """(argv without --config.* overrides, ["key=value", ...])."""
    rest, overrides = [], []
    for arg in argv:
        if arg.startswith(OVERRIDE_PREFIX):
            overrides.append(arg[len(OVERRIDE_PREFIX):])
        else:
            rest.append(arg)
    return rest, overrides


def parse_value(text):
    """A command-line value as Python: numbers, booleans, None, lists, else the string."""
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _coerce(key, old, new):
    """new, converted to the type of the field it replaces; UserError if it cannot be."""
    if old is None or new is None or isinstance(old, (dict, ml_collections.ConfigDict)):
        return new
    if isinstance(old, bool):
        if isinstance(new, bool):
            return new
    elif isinstance(old, float) and isinstance(new, (int, float)) and not isinstance(new, bool):
        return float(new)
    elif isinstance(old, int) and isinstance(new, int) and not isinstance(new, bool):
        return new
    elif isinstance(old, str):
        return str(new)
    elif isinstance(old, (list, tuple)) and isinstance(new, (list, tuple)):
        return type(old)(new)
    raise UserError(f"config field {key} is a {type(old).__name__}; "
                    f"cannot set it to {new!r}")


def set_field(config, key, value):
    """config.<key> = value for a dotted key; UserError naming the valid fields if unknown."""
    *parents, leaf = key.split(".")
    node = config
    for depth, part in enumerate(parents):
        if part not in node or not isinstance(node[part], ml_collections.ConfigDict):
            raise UserError(_unknown_field(config, ".".join(parents[:depth + 1])))
        node = node[part]
    section = ".".join(parents)
    if leaf not in node and section not in OPEN_SECTIONS:
        raise UserError(_unknown_field(config, key))
    with node.unlocked():
        node[leaf] = _coerce(key, node.get(leaf), value)


def _unknown_field(config, key):
    section, _, _ = key.rpartition(".")
    node = config
    for part in filter(None, section.split(".")):
        node = node.get(part, {}) if isinstance(node, ml_collections.ConfigDict) else {}
    fields = sorted(node.keys()) if isinstance(node, ml_collections.ConfigDict) else []
    where = f" in {section}" if section else ""
    return (f"config has no field {key!r}; fields{where}: {', '.join(fields)}"
            if fields else f"config has no field {key!r}")


def apply_overrides(config, overrides):
    """Applies ["key=value", ...] (the --config.* arguments, prefix stripped) in order."""
    for override in overrides:
        key, sep, text = override.partition("=")
        if not sep:
            raise UserError(f"--config.{override} needs a value: --config.{key}=VALUE")
        set_field(config, key, parse_value(text))
    return config


def to_json(config):
    """The resolved config as indented JSON, for the model dir and the log."""
    return json.dumps(config.to_dict(), indent=2, sort_keys=True, default=str)


def from_json_file(path):
    """A config written by to_json, read back (evaluate.py reads the training run's)."""
    with open(path) as f:
        return ml_collections.ConfigDict(json.load(f))
