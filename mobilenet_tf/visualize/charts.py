"""Charts of an evaluation, drawn with matplotlib (imported only when a chart is drawn):
per-class bars (AP, IoU, accuracy) and detection precision-recall curves from COCOeval's
precision array. Each function returns the PNG bytes; the caller writes them atomically."""
import io

import numpy as np

from mobilenet_tf.plots import pyplot

# COCOeval's recall thresholds (params.recThrs): 0, 0.01, ..., 1.
RECALL_THRESHOLDS = np.linspace(0.0, 1.0, 101)


def _png(fig):
    plt = pyplot()
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    return buffer.getvalue()


def per_class_bars(values, class_names, title, xlabel):
    """Horizontal bars of one value in [0, 1] per class (None: not scored, shown as "-"),
    the mean of the scored ones as a dashed line."""
    plt = pyplot()
    names = [str(name) for name in class_names]
    scored = [value for value in values if value is not None]
    height = max(2.5, 0.28 * len(names) + 1.2)
    fig, ax = plt.subplots(figsize=(7, min(height, 60)))
    positions = np.arange(len(names))
    ax.barh(positions, [value or 0.0 for value in values], color="#3b75af")
    for y, value in zip(positions, values):
        ax.text((value or 0.0) + 0.01, y, "-" if value is None else f"{value:.3f}",
                va="center", fontsize=7)
    if scored:
        ax.axvline(float(np.mean(scored)), color="#c44e52", linestyle="--",
                   label=f"mean {np.mean(scored):.3f}")
        ax.legend(loc="lower right", fontsize=8)
    ax.set_yticks(positions, names, fontsize=7 if len(names) > 30 else 9)
    ax.invert_yaxis()
    ax.set_xlim(0, 1.08)
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    return _png(fig)


def pr_curves(precision, class_names, title="Precision-recall per class"):
    """COCOeval's precision array (T, R, K, A, M) -> curves of precision against recall for
    each class with ground truth, at IoU 0.5 (left) and averaged over IoU 0.5:0.95 (right),
    all areas, 100 detections; the legend gives each class's AP there."""
    plt = pyplot()
    precision = np.asarray(precision, np.float64)[:, :, :, 0, -1]   # (T, R, K)
    fig, axes = plt.subplots(1, 2, figsize=(12, 5.5), sharey=True)
    colours = plt.get_cmap("tab20").colors
    for ax, (label, curves) in zip(axes, (("IoU 0.5", precision[0]),
                                          ("IoU 0.5:0.95", _mean_over_iou(precision)))):
        for k, name in enumerate(class_names):
            curve = curves[:, k]
            if not np.all(curve >= 0):   # -1: no ground truth of this class
                continue
            ax.plot(RECALL_THRESHOLDS, curve, color=colours[k % len(colours)], linewidth=1.2,
                    label=f"{name} {curve.mean():.3f}")
        scored = curves[:, np.all(curves >= 0, axis=0)]
        if scored.size:
            ax.plot(RECALL_THRESHOLDS, scored.mean(axis=1), color="black", linewidth=2.5,
                    label=f"all classes {scored.mean():.3f}")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("recall")
        ax.set_title(f"{title}, {label} (AP in the legend)")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7 if len(class_names) <= 20 else 5, loc="lower left",
                  ncol=1 if len(class_names) <= 20 else 2)
    axes[0].set_ylabel("precision")
    return _png(fig)


def _mean_over_iou(precision):
    """(T, R, K) -> (R, K): the mean over the IoU thresholds, -1 kept where a class has no
    ground truth (COCOeval's marker)."""
    missing = np.any(precision < 0, axis=0)
    return np.where(missing, -1.0, precision.mean(axis=0))
