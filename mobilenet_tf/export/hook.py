"""The export hook interface: what a task tells export about its models' outputs.

    hook = TASKS[config.task].export_hook(config)      # an ExportHook
    serving = export.Serving(model, hook)

A hook maps the model's outputs to the exported ones (TensorFlow ops for the graph formats,
Keras layers for `.keras`), compares an artifact's outputs with the Keras model's, and names
the columns that comparison adds to export.py's table. Detection's hook also changes what
TFLite formats compute after the frozen model (LiteRT's NMS op) and which formats it takes.
"""
import abc

from mobilenet_tf import UserError
from mobilenet_tf.export import converters


class ExportHook(abc.ABC):
    """Defaults for every hook; a task's hook provides the outputs, compare and columns."""

    TABLE_COLUMNS = ()           # (metrics key, table header, format) per added column
    tflite_custom_ops = False    # the TFLite converter may keep custom ops (LiteRT's NMS)
    tflite_float_outputs = False  # int8 files keep float32 outputs
    check_threads = None         # LiteRT threads to check at (None: export.py's choice)
    tflite_outputs = None        # (model, outputs, int8) -> what TFLite computes after freezing

    @property
    def FORMATS(self):   # noqa: N802 - a constant of most hooks
        """The formats this hook exports."""
        return converters.FORMATS

    def configure(self, config=None, **options):
        """The hook for one run's config; a hook that needs nothing of it returns itself."""
        if options:
            raise UserError(f"{', '.join(options)} only apply to exporting detection models")
        return self

    def check_format(self, fmt):
        """UserError, in one line, when this hook cannot export format `fmt`."""
        if fmt not in self.FORMATS:
            raise UserError(f"format '{fmt}' is not supported for this task; it supports "
                            f"{', '.join(self.FORMATS)}")

    def filename(self, fmt):
        """The artifact's file (or folder) name for format `fmt` in the output folder."""
        return converters.FILENAMES[fmt]

    def serving_model(self, model):
        """The model Serving calls: its outputs are what serving_outputs and keras_outputs
        receive (segmentation adds the logits before the final upsample)."""
        return model

    def tflite_postprocess_ops(self, model):
        """graph.ops of what tflite_outputs adds, left out of the fused-activation check;
        None when nothing is added."""
        return None

    @abc.abstractmethod
    def serving_outputs(self, model, outputs):
        """The model's outputs -> {name: tf.Tensor}, the exported signature's outputs."""

    @abc.abstractmethod
    def keras_outputs(self, model, outputs):
        """serving_outputs in Keras layers, for the `.keras` artifact."""

    @abc.abstractmethod
    def compare(self, reference, exported, labels):
        """Exported against Keras outputs (dicts of numpy arrays) -> {metric: float}."""
