"""Experiment recipes: one file per recipe, each with get_config() -> ml_collections.ConfigDict."""
