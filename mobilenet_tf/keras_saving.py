"""A work-around for a Keras 3 bug that slows every .keras save and load and every weights
checkpoint.

For each layer, optimizer, metric and loss it saves or loads, Keras's saving_lib asks
`get_attr_skipset(type)` which attributes to leave alone: a set built from `dir()` of a
freshly constructed base object. The function is meant to cache that set, but it stores it
under "saving_attr_skipset_<type>" and looks it up under "saving_attr_skiplist_<type>", so
it never finds it and constructs a throwaway Layer for every layer of the model (Keras
3.15.1, the newest release as of 2026-12). A `.keras` save of MobileNetV3-Large spends about
a quarter of its time there (benchmarks/RESULTS.md).

The set depends only on Keras's classes, so caching it for the life of the process is what
Keras intends. `cache_attribute_skipsets()` does that when, and only when, Keras's own cache
misses; a Keras that fixes the bug (or drops the function) is left as it is.
"""
import functools


def cache_attribute_skipsets():
    """Makes keras.src.saving.saving_lib.get_attr_skipset cache its sets per object type
    when Keras's own cache does not (idempotent). Returns True if the cache was installed
    (now or before), False if Keras needs none or has no such function."""
    try:
        from keras.src.saving import saving_lib
    except ImportError:
        return False
    lookup = getattr(saving_lib, "get_attr_skipset", None)
    if lookup is None:
        return False
    if getattr(lookup, "cache_info", None) is not None:
        return True   # installed already
    if lookup("Layer") is lookup("Layer"):
        return False   # Keras's cache works
    saving_lib.get_attr_skipset = functools.cache(lookup)
    return True
