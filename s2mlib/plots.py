"""Figures and tables the notebooks save. Functions draw what they are handed; nothing here computes results.

Figures are PNG, tables CSV plus Markdown, all written atomically into ``figures/``.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from .io import DensityMap, atomic_write

METRIC_LABELS = {
    "ssim": "SSIM", "correlation": "correlation", "correlation_about_mean": "correlation about mean",
    "pcc": "PCC",
}


def save_figure(fig: plt.Figure, path: str | Path, dpi: int = 130) -> Path:
    """Write ``fig`` as PNG atomically and return the path."""
    path = Path(path)
    atomic_write(lambda tmp: fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format="png"), path)
    return path


def save_table(table: pd.DataFrame, stem: str | Path, floatfmt: str = ".3f") -> tuple[Path, Path]:
    """Write ``table`` as ``stem.csv`` and ``stem.md`` (GitHub Markdown), atomically."""
    stem = Path(stem)
    csv_path, md_path = stem.with_suffix(".csv"), stem.with_suffix(".md")
    atomic_write(lambda tmp: table.to_csv(tmp, index=False), csv_path)
    markdown = table.to_markdown(index=False, floatfmt=floatfmt)
    atomic_write(lambda tmp: Path(tmp).write_text(markdown + "\n"), md_path)
    return csv_path, md_path


def central_slice(density: DensityMap, axis: int = 0) -> np.ndarray:
    """The middle slice of ``density.data`` ([z, y, x]) across ``axis`` (0: an xy plane)."""
    return np.take(density.data, density.data.shape[axis] // 2, axis=axis)


def slice_grid(rows: dict[str, dict[str, DensityMap]], axis: int = 0, cmap: str = "gray") -> plt.Figure:
    """A grid of central slices: one row per entry, one column per map kind (e.g. ExpMap, SimMap)."""
    columns = list(next(iter(rows.values())).keys())
    fig, axes = plt.subplots(len(rows), len(columns), figsize=(2.6 * len(columns), 2.6 * len(rows)), squeeze=False)
    for r, (entry, maps) in enumerate(rows.items()):
        for c, name in enumerate(columns):
            ax = axes[r, c]
            ax.imshow(central_slice(maps[name], axis), cmap=cmap, origin="lower")
            ax.set_xticks([]), ax.set_yticks([])
            if r == 0:
                ax.set_title(name)
            if c == 0:
                ax.set_ylabel(entry)
    fig.tight_layout()
    return fig


def isosurface(ax, density: DensityMap, level: float, color: str = "tab:blue", alpha: float = 0.6,
               step: int = 1) -> np.ndarray:
    """Draw the ``level`` isosurface of ``density`` (marching cubes, world coordinates) on a 3D axis.

    Returns the mesh vertices in world coordinates (x, y, z), empty when the level is outside the data range.
    """
    from mpl_toolkits.mplot3d.art3d import Poly3DCollection
    from skimage.measure import marching_cubes

    data = density.data
    if not data.min() < level < data.max():
        return np.empty((0, 3))
    verts, faces, _, _ = marching_cubes(data, level=level, step_size=step)
    xyz = density.index_to_world(verts[:, ::-1])  # marching cubes gives (z, y, x) indices
    mesh = Poly3DCollection(xyz[faces], alpha=alpha, facecolor=color, edgecolor="none")
    ax.add_collection3d(mesh)
    lo, hi = xyz.min(axis=0), xyz.max(axis=0)
    ax.set_xlim(lo[0], hi[0]), ax.set_ylim(lo[1], hi[1]), ax.set_zlim(lo[2], hi[2])
    ax.set_box_aspect(hi - lo)
    ax.set_axis_off()
    return xyz


def isosurface_grid(rows: dict[str, dict[str, tuple[DensityMap, float]]], colors: dict[str, str] | None = None,
                    ca_traces: dict[str, list[np.ndarray]] | None = None) -> plt.Figure:
    """Isosurfaces, one row per entry and one column per map; each cell is ``(map, level)``.

    ``ca_traces`` (optional, per entry) draws the model's CA trace segments (e.g. coloured by secondary structure)
    over every map of that entry, as ``[(xyz_array, colour), ...]``.
    """
    columns = list(next(iter(rows.values())).keys())
    fig = plt.figure(figsize=(3.2 * len(columns), 3.2 * len(rows)))
    for r, (entry, maps) in enumerate(rows.items()):
        for c, name in enumerate(columns):
            ax = fig.add_subplot(len(rows), len(columns), r * len(columns) + c + 1, projection="3d")
            density, level = maps[name]
            isosurface(ax, density, level, color=(colors or {}).get(name, "tab:blue"), step=2)
            for xyz, colour in (ca_traces or {}).get(entry, []):
                ax.plot(xyz[:, 0], xyz[:, 1], xyz[:, 2], color=colour, linewidth=1.2)
            ax.set_title(f"{entry}\n{name}" if c == 0 else name, fontsize=9)
    fig.tight_layout()
    return fig


def loss_curves(history: pd.DataFrame, snapshots: dict[int, np.ndarray] | None = None,
                target: np.ndarray | None = None) -> plt.Figure:
    """Figure 3: validation losses of G and D per epoch (columns epoch, val_loss_g, val_loss_d), with optional
    generated-slice snapshots at a few epochs (and the target slice) beneath."""
    n_snap = len(snapshots or {}) + (target is not None)
    fig = plt.figure(figsize=(max(8, 2.2 * n_snap), 6.5 if n_snap else 3.5))
    grid = fig.add_gridspec(2 if n_snap else 1, max(n_snap, 2), height_ratios=[1.4, 1] if n_snap else [1])
    for i, (column, label) in enumerate((("val_loss_g", "generator"), ("val_loss_d", "discriminator"))):
        ax = fig.add_subplot(grid[0, i * max(n_snap, 2) // 2:(i + 1) * max(n_snap, 2) // 2])
        ax.plot(history["epoch"], history[column], marker="o", color=("tab:blue", "tab:red")[i])
        ax.set_xlabel("epoch"), ax.set_ylabel("validation loss"), ax.set_title(label)
    panels = list((snapshots or {}).items()) + ([("target", target)] if target is not None else [])
    for j, (epoch, image) in enumerate(panels):
        ax = fig.add_subplot(grid[1, j])
        ax.imshow(image, cmap="gray", origin="lower", vmin=0, vmax=1)
        ax.set_title(f"epoch {epoch}" if epoch != "target" else "ExpMap (target)", fontsize=9)
        ax.set_xticks([]), ax.set_yticks([])
    fig.tight_layout()
    return fig


def metric_boxplots(scores: pd.DataFrame, metrics: list[str], order: list[str] | None = None,
                    show_means: bool = True) -> plt.Figure:
    """Figures 6 and 8: one box plot per metric, methods side by side (long table: method, metric columns)."""
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.4 * len(metrics), 3.6), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        sns.boxplot(data=scores, x="method", y=metric, order=order, ax=ax, showmeans=show_means, hue="method",
                    legend=False, meanprops={"marker": "^", "markerfacecolor": "white", "markeredgecolor": "black"})
        ax.set_xlabel(""), ax.set_ylabel(METRIC_LABELS.get(metric, metric))
        ax.tick_params(axis="x", rotation=30)
    fig.tight_layout()
    return fig


def metric_vs_resolution(scores: pd.DataFrame, metrics: list[str], order: list[str] | None = None) -> plt.Figure:
    """Figure 5: each metric against the reported resolution, a regression line with a 95 % band per method."""
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.8), squeeze=False)
    methods = order or list(dict.fromkeys(scores["method"]))
    for ax, metric in zip(axes[0], metrics):
        for method in methods:
            part = scores[scores["method"] == method]
            sns.regplot(data=part, x="resolution", y=metric, ax=ax, label=method, ci=95, truncate=True,
                        scatter_kws={"s": 14}, line_kws={"linewidth": 1.5})
        ax.set_xlabel("reported resolution (Å)"), ax.set_ylabel(METRIC_LABELS.get(metric, metric))
    axes[0][-1].legend(fontsize=8)
    fig.tight_layout()
    return fig


def time_vs_size(timings: pd.DataFrame, x: str = "residues", y: str = "seconds", hue: str | None = None) -> plt.Figure:
    """Figure 7: generation time against residue count with a least-squares line (per ``hue`` group)."""
    fig, ax = plt.subplots(figsize=(5, 3.8))
    groups = timings.groupby(hue) if hue else [("", timings)]
    for name, part in groups:
        slope, intercept = np.polyfit(part[x], part[y], 1)
        xs = np.linspace(0, part[x].max() * 1.05, 50)
        ax.scatter(part[x], part[y], s=20)
        ax.plot(xs, slope * xs + intercept, label=f"{name} {slope * 1000:.2f} s per 1000 residues".strip())
    ax.set_xlabel("residues"), ax.set_ylabel("seconds"), ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
