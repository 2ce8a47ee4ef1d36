"""mobilenet_tf: efficient mobile vision networks for Keras 3 / TensorFlow."""

__version__ = "0.1.0"


class UserError(Exception):
    """A mistake the user can fix (bad flag, unknown name, missing data).

    Entry points catch it, print its message as one line on stderr and exit with code 2.
    """
