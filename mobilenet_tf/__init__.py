"""mobilenet_tf: efficient mobile vision networks for Keras 3 / TensorFlow."""

__version__ = "0.1.0"


class UserError(Exception):
    """A mistake the user can fix (bad flag, unknown name, missing data).

    Entry points catch it, print its message as one line on stderr and exit with code 2.
    """


# Errors found inside the input pipeline (a bad mask, named by its file) cannot be raised as
# UserError there: they arrive as TensorFlow errors whose message carries this marker, and
# the entry points print the sentence after it as one line, exit code 2.
DATA_ERROR = "user error: "


def data_error_message(error):
    """The user-facing sentence in a pipeline error's message, or None if it has none."""
    text = str(error)
    if DATA_ERROR not in text:
        return None
    sentence = text.split(DATA_ERROR, 1)[1]
    return sentence.split("]", 1)[0].split("\n", 1)[0].strip()
