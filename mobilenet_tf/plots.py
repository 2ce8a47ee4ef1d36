"""The profiler's two figures: ImageNet top-1 against multiply-adds (the trade-off plot of the
MobileNet papers) and the ReLU-manifold experiment of Figure 1 of the MobileNetV2 paper
(arXiv:1801.04381). The math is in pure numpy functions; matplotlib only draws."""

import collections

import numpy as np

RELU_DIMS = (2, 3, 5, 15, 30)   # the embedding sizes of the V2 paper's Figure 1


def spiral(num_points=400, turns=2.0):
    """(num_points, 2) points on an Archimedean spiral around the origin, inner end first."""
    t = np.linspace(0.0, 1.0, num_points)
    angle = 2.0 * np.pi * turns * t
    radius = 0.1 + t
    return np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)


def relu_manifold(n, points, seed=0):
    """(P, 2) points -> (P, 2): embedded into n dimensions by a random n x 2 matrix T, passed
    through ReLU and projected back with T's pseudo-inverse, as in Figure 1 of the V2 paper."""
    transform = np.random.default_rng(seed).standard_normal((n, 2))
    embedded = np.maximum(points @ transform.T, 0.0)
    return embedded @ np.linalg.pinv(transform).T


def reconstruction_error(points, reconstructed):
    """How much of `points` no affine map can recover from `reconstructed`: the residual of
    the least-squares fit, relative to the points' spread (0: nothing lost, 1: everything).

    Affine rather than the raw difference because ReLU keeps about half of each projection
    (relu(z) = z/2 + |z|/2, and T^-1 averages the |z| part away as n grows), so even a
    lossless high-dimensional embedding comes back at about half scale.
    """
    design = np.concatenate([reconstructed, np.ones((len(points), 1))], axis=1)
    coef, *_ = np.linalg.lstsq(design, points, rcond=None)
    residual = points - design @ coef
    return float(np.linalg.norm(residual) / np.linalg.norm(points - points.mean(axis=0)))


def mean_reconstruction_error(n, points, draws=20):
    """reconstruction_error of relu_manifold(n, ...) averaged over `draws` random T: one draw
    can be lucky or unlucky (a 2x2 T with both rows pointing the same way loses more)."""
    return float(np.mean([reconstruction_error(points, relu_manifold(n, points, seed))
                          for seed in range(draws)]))


def pyplot():
    """matplotlib.pyplot on the Agg backend (files only, never a display)."""
    import matplotlib   # only the figures need it, and never a display
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def relu_manifold_figure(path, dims=RELU_DIMS, seed=0):
    """Writes the input spiral and its ReLU reconstructions for each n in `dims` to `path`."""
    plt = pyplot()
    points = spiral()
    colour = np.linspace(0.0, 1.0, len(points))   # position along the spiral
    fig, axes = plt.subplots(1, len(dims) + 1, figsize=(3 * (len(dims) + 1), 3.2))
    axes[0].scatter(points[:, 0], points[:, 1], c=colour, s=4, cmap="viridis")
    axes[0].set_title("Input")
    for ax, n in zip(axes[1:], dims):
        out = relu_manifold(n, points, seed)
        ax.scatter(out[:, 0], out[:, 1], c=colour, s=4, cmap="viridis")
        ax.set_title(f"n = {n}: {mean_reconstruction_error(n, points):.2f} lost")
    for ax in axes:
        ax.set_aspect("equal", adjustable="datalim")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle("ReLU(T x) projected back with T^-1 (MobileNetV2 paper, Figure 1); "
                 "lost: affine residual, mean over 20 random T")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def tradeoff_figure(points, path):
    """Writes top-1 against MAdds (log scale) to `path`.

    points: (series, variant, madds, top1) tuples, `variant` with .width and .resolution.
    Each series gets one colour: its width sweep as a solid line, its resolution sweep at
    width 1.0 dashed; every point is labelled "width-resolution".
    """
    plt = pyplot()
    by_series = collections.defaultdict(list)
    for series, variant, madds, top1 in points:
        by_series[series].append((madds / 1e6, top1, variant))
    fig, ax = plt.subplots(figsize=(15, 7))
    for i, (series, rows) in enumerate(by_series.items()):
        # tab10 has ten distinct colours; past ten series the marker tells them apart.
        colour, marker = plt.get_cmap("tab10").colors[i % 10], "os^D"[i // 10 % 4]
        base = collections.Counter(v.resolution for _, _, v in rows).most_common(1)[0][0]
        sweeps = ((lambda v: v.resolution == base, "-"), (lambda v: v.width == 1.0, "--"))
        for keep, style in sweeps:
            line = sorted((m, t) for m, t, v in rows if keep(v))
            if len(line) > 1:
                ax.plot(*zip(*line), style, color=colour, linewidth=1)
        ax.scatter([m for m, _, _ in rows], [t for _, t, _ in rows], color=colour, s=20,
                   marker=marker, label=series, zorder=3)
        for madds, top1, v in rows:
            ax.annotate(f"{float(v.width)}-{v.resolution}", (madds, top1), fontsize=7,
                        xytext=(3, 3), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlabel("Multiply-adds (millions, computed by mobilenet_tf.profile)")
    ax.set_ylabel("ImageNet top-1 (%, as reported)")
    ax.set_title("Accuracy vs computation; solid: width sweep, dashed: resolution sweep")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))   # beside: no overlap
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
