"""Figures and tables the notebooks save. Functions draw what they are handed; nothing here computes results.

Figures are PNG, tables CSV plus Markdown, all written atomically into ``figures/``.

Why one long module: one short function per figure of the paper and of the beyond-the-paper studies, plus the
atomic writers and the figure index they share.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from ..io.density import DensityMap
from ..io.outputs import atomic_write

# What each saved file reproduces; figures/README.md is generated from this and figures/index.json.
FIGURE_INDEX = {
    "table_curation": "curation: every entry kept or excluded, with its reason (paper section 3.2)",
    "curation_slices": "curation: central slices of ExpMap vs SimMap",
    "curation_isosurfaces": "curation: isosurfaces of ExpMap vs SimMap",
    "table_simulator_timing": "simulators: time per map on the test entries",
    "simulators": "simulators: central slices of every baseline beside the experimental map",
    "table_patch_counts": "patches per split, beside the paper's 403,710 / 62,635 (section 3.2)",
    "augmentation": "input augmentation preview (TorchIO, section 3.2)",
    "fig3_losses": "Figure 3: validation losses of G and D per epoch, generated snapshots",
    "fig3_losses_shipped": "Figure 3 for the default weights' training run (fast: conditioned, 70 min on 2 CPU cores)",
    "table_training_history": "Figure 3's data: the training history",
    "table_generation_time": "Figure 7's data: generation time per structure",
    "fig7_generation_time": "Figure 7: generation time against residue count",
    "table1": "Table 1: SSIM, correlation, correlation about mean, PCC (mean / median), ours above the paper's",
    "table1_field": "Table 1's maps against the models: Phenix CC_mask and CC_box, map-model FSC 0.5 resolution, "
    "mean Q-score",
    "table1_masked": "Table 1, inside 3 A of the model, with the whole-box Pearson",
    "table_scores": "per-entry scores of every method (Table 1's data)",
    "fig6_boxplots": "Figure 6: box plots of each metric per method",
    "fig4_visual": "Figure 4: isosurfaces of GAN, molmap and experimental maps, high to low resolution",
    "fig5_resolution": "Figure 5: correlation and SSIM against reported resolution",
    "table_resolution_fits": "Figure 5's regression lines (slope, intercept per method and metric)",
    "fig8_ablation": "Figure 8: ablation (no SmoothL1; raw maps as targets) against the base model",
    "table_ablation": "Figure 8's data: mean ± sd over seeds per model (test entries)",
    "table_ablation_winners": "08: the winner per comparison, R and score where its lead holds over seeds",
    "fig5_target_resolution": "Figure 5 extended: every metric against the target resolution R, GAN and simulators "
    "at R, against the experimental map low-passed to R (test entries)",
    "table_target_resolution": "extended Figure 5's data: mean scores per method and target resolution",
    "fig5_resolution_panel": "one test structure generated at 3, 4.5, 6 and 8 A beside the experimental map low-passed "
    "to the same R",
    "table_resolution_check": "matched resolution R' of maps made at R (3.5, 5, 7 A) against the experimental map's",
    "fig8_conditioning": "input x conditioning ablation on the validation entries at the reported and coarser R",
    "table_ablation_conditioning": "input x conditioning ablation: validation scores, mean ± sd over seeds, per R",
    "table_map_quality": "curation: the experimental maps' own mean Q-score and map-model FSC 0.5 resolution",
    "fig_residue_q": "per-residue Q-score along the chain of one test entry: GAN, experimental and molmap maps",
    "table_residue_q": "per-residue Q-scores of that figure",
    "table_realism": "realism at each test entry's reported R: mean Q, its difference from the experimental map's, "
    "per-residue Q correlation with the experimental map, for the expected and sample maps and every simulator",
    "fig_realism_q": "mean Q-score against resolution: expected maps, sample maps at quality 10, 50 and 90, "
    "simulators, "
    "experimental maps; EMDB's line (sigma 0.6) and EMDB's percentiles (sigma 0.4)",
    "table_realism_q": "that figure's data: mean Q (sigma 0.6 and 0.4) per method and target resolution (test entries)",
    "table_realism_reported": "the test entries at their reported R: mean Q (sigma 0.6, 0.4), EMDB percentile, "
    "per-residue Q correlation and matched resolution of the experimental, expected and sample maps (quality 10, "
    "50, 90) and every simulator",
    "fig_half_map_fsc": "FSC of a sample map's two half maps at several R, with 0.143 and 1/R marked",
    "table_half_map_check": "where the half maps' FSC falls through 0.143, against 1/R, for R from 2.5 to 10 A",
    "table_templates_3d": "09: template matching in synthetic tomograms of the experimental maps: z-score, precision, "
    "recall, average precision, angular error per template and SNR (GAN expected and sample, simulators, "
    "experimental)",
    "table_templates_2d": "09: the same in synthetic micrographs, the templates' projections as references",
    "table_templates_entries": "09: every entry, SNR and template of the two studies",
    "fig_templates_detection": "09: detection scores against SNR per template, tomograms and micrographs",
    "table_templates_verdict": "09: per SNR, the GAN template's z-score and average precision against the best "
    "simulator's, the simulators' spread and the experimental ceiling",
    "fig_templates": "09: central slices of one entry's templates, a synthetic tomogram and a micrograph",
}

SS_COLOURS = {"helix": "hotpink", "strand": "tab:blue", "coil": "0.55"}  # Figure 4: helices pink, sheets blue
METRIC_LABELS = {
    "ssim": "SSIM",
    "correlation": "correlation",
    "correlation_about_mean": "correlation about mean",
    "pcc": "PCC",
    "masked_correlation_about_mean": "Pearson inside 3 Å",
}


INDEX_TITLE = "# Figures and tables"  # the first line of the README.md that record() writes


def _index_problem(path: Path) -> str | None:
    """Why ``path`` is not an ``index.json`` written by :func:`record` (None when it is one)."""
    import json

    try:
        index = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return f"not a readable figure index ({type(exc).__name__})"
    files = index.get("files") if isinstance(index, dict) and "files" in index else index
    if not isinstance(files, dict) or not all(isinstance(v, dict) and "profile" in v for v in files.values()):
        return "not a figure index written by the notebooks"
    if isinstance(index, dict) and not isinstance(index.get("runs", {}), dict):
        return "not a figure index written by the notebooks"
    return None


def check_figure_folder(folder: str | Path) -> Path:
    """Refuse (:class:`~s2mlib.errors.OutputError`, one line) a figure folder whose ``README.md`` or ``index.json``
    the notebooks did not write: saving a figure rewrites both (:func:`record`), so a folder's own README (a data
    set's provenance, a project's) would be lost. Returns ``folder``. Checked before a run and before every save."""
    from ..errors import OutputError

    folder = Path(folder)
    readme, index = folder / "README.md", folder / "index.json"
    hint = "give figures_dir an empty folder or one the notebooks made"
    if readme.is_file():
        with open(readme, "rb") as fh:
            head = fh.read(len(INDEX_TITLE) + 1)
        if head != (INDEX_TITLE + "\n").encode():
            raise OutputError(f"{readme}: not a figure index, and saving figures in {folder} rewrites it: {hint}")
    if index.exists():
        problem = _index_problem(index)
        if problem:
            raise OutputError(f"{index}: {problem}, and saving figures in {folder} rewrites it: {hint}")
    return folder


def save_figure(fig: plt.Figure, path: str | Path, profile: str | None = None, dpi: int = 130) -> None:
    """Write ``fig`` as PNG atomically (left alone when the bytes are the same); with ``profile``, record it in the
    folder's index (figures/README.md). Returns nothing, so a notebook cell ending with it shows only the figure."""
    if profile:
        check_figure_folder(Path(path).parent)
    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=dpi, bbox_inches="tight", format="png")
    changed = write_if_changed(buffer.getvalue(), Path(path))
    if profile:
        record(Path(path), profile, changed=[Path(path)] if changed else [])


def save_table(
    table: pd.DataFrame,
    stem: str | Path,
    profile: str | None = None,
    floatfmt: str = ".3f",
    markdown: pd.DataFrame | None = None,
) -> tuple[Path, Path]:
    """Write ``table`` as ``stem.csv`` (numbers to 10 significant digits, so rounding noise in the last bits of a
    re-run leaves the file alone) and ``stem.md`` (GitHub Markdown; ``markdown`` instead of ``table`` when given, e.g.
    "mean ± sd" text), atomically and only when their content changes; ``profile`` as above."""
    stem = Path(stem)
    if profile:
        check_figure_folder(stem.parent)
    csv_path, md_path = stem.with_suffix(".csv"), stem.with_suffix(".md")
    changed = [
        p
        for p, text in (
            (csv_path, table.to_csv(index=False, float_format="%.10g")),
            (md_path, (table if markdown is None else markdown).to_markdown(index=False, floatfmt=floatfmt) + "\n"),
        )
        if write_if_changed(text.encode(), p)
    ]
    if profile:
        record(csv_path, profile, also=[md_path], changed=changed)
    return csv_path, md_path


def write_if_changed(content: bytes, path: Path) -> bool:
    """Write ``content`` to ``path`` atomically unless the file already holds exactly it; True when written."""
    if path.is_file() and path.read_bytes() == content:
        return False
    atomic_write(lambda tmp: Path(tmp).write_bytes(content), path)
    return True


# The provenance record (s2mlib.run.provenance) of the run this process belongs to and its id; set by
# s2mlib.run.session.start.
_RUN: tuple[str, dict] | None = None


def set_provenance(record: dict | None, run: str | None = None) -> None:
    """Record ``record`` (:func:`s2mlib.run.provenance.provenance`), named ``run`` (its
    :func:`~s2mlib.run.provenance.run_id`), with every file saved from now on in this process; None: no record."""
    global _RUN
    if record is not None and not run:
        raise ValueError("set_provenance: a record needs its run id")
    _RUN = None if record is None else (str(run), record)


def record(path: Path, profile: str, also: list[Path] | None = None, changed: list[Path] | None = None) -> None:
    """Note in ``index.json`` beside ``path`` which profile made it, when it last changed and in which run (the
    machine, versions, overrides and seeds, :func:`set_provenance`), and rewrite ``README.md`` there. A file keeps
    its record unless it is in ``changed`` (None: all), new to the index or made by another profile; the index files
    are rewritten only when their text changes (no new dates, no rewrite). ``index.json``: ``{"files": {name:
    {profile, written, run}}, "runs": {run id: provenance}}``, runs no file refers to dropped."""
    import json
    import time

    folder = check_figure_folder(path.parent)
    index_path = folder / "index.json"
    index = json.loads(index_path.read_text()) if index_path.exists() else {}
    files, runs = (index["files"], index.get("runs", {})) if "files" in index else (index, {})
    current, provenance = _RUN if _RUN is not None else (None, None)
    for item in [path, *(also or [])]:
        old = files.get(item.name)
        if changed is None or item in changed or old is None or old["profile"] != profile:
            files[item.name] = {"profile": profile, "written": time.strftime("%Y-%m-%d %H:%M:%S")}
            if current is not None:
                files[item.name]["run"] = current
                runs[current] = provenance
    files = dict(sorted(files.items()))
    used = {info.get("run") for info in files.values()}
    runs = {key: value for key, value in sorted(runs.items()) if key in used}
    write_if_changed((json.dumps({"files": files, "runs": runs}, indent=1) + "\n").encode(), index_path)
    lines = [
        INDEX_TITLE,
        "",
        "Regenerated by the notebooks (`./run_all.sh`); `index.json` holds the same records, and for each run the",
        "machine, library versions, commit, overrides and seeds in full.",
        "",
        "| file | reproduces | profile (manifest) | written | run |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, info in files.items():
        what = FIGURE_INDEX.get(Path(name).stem, "")
        lines.append(f"| [{name}]({name}) | {what} | {info['profile']} | {info['written']} | {info.get('run', '')} |")
    if runs:
        lines += ["", "| run | machine | torch | commit | overrides | seeds |", "| --- | --- | --- | --- | --- | --- |"]
        for key, run in runs.items():
            m = run["machine"]
            overrides = ", ".join(f"{k}={v}" for k, v in run["overrides"].items()) or "none"
            first, n = run["seed"], run.get("seeds") or 1
            seeds = f"{first}..{first + n - 1}" if n > 1 else str(first)
            lines.append(
                f"| {key} | {m['cpu']}, {m['cores']} cores, {m['torch_threads']} threads"
                f"{', ' + m['gpu'] if m.get('gpu') else ''} | {run['versions'].get('torch')} | {run['commit']} "
                f"| {overrides} | {seeds} |"
            )
    write_if_changed(("\n".join(lines) + "\n").encode(), folder / "README.md")


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


def isosurface(
    ax, density: DensityMap, level: float, color: str = "tab:blue", alpha: float = 0.6, step: int = 1
) -> np.ndarray:
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


def isosurface_grid(
    rows: dict[str, dict[str, tuple[DensityMap, float]]],
    colors: dict[str, str] | None = None,
    ca_traces: dict[str, list[np.ndarray]] | None = None,
) -> plt.Figure:
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


def loss_curves(
    history: pd.DataFrame, snapshots: dict[int, np.ndarray] | None = None, target: np.ndarray | None = None
) -> plt.Figure:
    """Figure 3: validation losses of G and D per epoch (columns epoch, val_loss_G, val_loss_D), with optional
    generated-slice snapshots at a few epochs (and the target slice) beneath."""
    n_snap = len(snapshots or {}) + (target is not None)
    fig = plt.figure(figsize=(max(8, 2.2 * n_snap), 6.5 if n_snap else 3.5))
    grid = fig.add_gridspec(2 if n_snap else 1, max(n_snap, 2), height_ratios=[1.4, 1] if n_snap else [1])
    for i, (column, label) in enumerate((("val_loss_G", "generator"), ("val_loss_D", "discriminator"))):
        ax = fig.add_subplot(grid[0, i * max(n_snap, 2) // 2 : (i + 1) * max(n_snap, 2) // 2])
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


def metric_boxplots(
    scores: pd.DataFrame, metrics: list[str], order: list[str] | None = None, show_means: bool = True
) -> plt.Figure:
    """Figures 6 and 8: one box plot per metric, methods side by side (long table: method, metric columns)."""
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.4 * len(metrics), 3.6), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        sns.boxplot(
            data=scores,
            x="method",
            y=metric,
            order=order,
            ax=ax,
            showmeans=show_means,
            hue="method",
            legend=False,
            meanprops={"marker": "^", "markerfacecolor": "white", "markeredgecolor": "black"},
        )
        ax.set_xlabel(""), ax.set_ylabel(METRIC_LABELS.get(metric, metric))
        plt.setp(ax.get_xticklabels(), rotation=40, ha="right", rotation_mode="anchor")
    fig.tight_layout()
    return fig


def metric_vs_resolution(scores: pd.DataFrame, metrics: list[str], order: list[str] | None = None) -> plt.Figure:
    """Figure 5: each metric against the reported resolution, a regression line with a 95 % band per method."""
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.8), squeeze=False)
    methods = order or list(dict.fromkeys(scores["method"]))
    for ax, metric in zip(axes[0], metrics):
        for method in methods:
            part = scores[scores["method"] == method]
            sns.regplot(
                data=part,
                x="resolution",
                y=metric,
                ax=ax,
                label=method,
                ci=95,
                truncate=True,
                scatter_kws={"s": 14},
                line_kws={"linewidth": 1.5},
            )
        ax.set_xlabel("reported resolution (Å)"), ax.set_ylabel(METRIC_LABELS.get(metric, metric))
    axes[0][-1].legend(fontsize=8)
    fig.tight_layout()
    return fig


def metric_vs_target(series: pd.DataFrame, metrics: list[str], order: list[str] | None = None) -> plt.Figure:
    """Extended Figure 5: each metric against the target resolution R (columns entry, target, method, metrics; one
    row per entry and map). Targets every entry has (the ladder) are joined: the mean over entries per method, the
    entries' range as a band; targets only some entries have (each entry's reported resolution) are single crosses."""
    shared = series.groupby("target")["entry"].nunique() == series["entry"].nunique()
    on_ladder = series["target"].map(shared).astype(bool)
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.6 * len(metrics), 3.6), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        sns.lineplot(
            data=series[on_ladder],
            x="target",
            y=metric,
            hue="method",
            hue_order=order,
            errorbar=("pi", 100),
            marker="o",
            markersize=4,
            ax=ax,
            legend=ax is axes[0][-1],
        )
        sns.scatterplot(
            data=series[~on_ladder],
            x="target",
            y=metric,
            hue="method",
            hue_order=order,
            marker="X",
            s=40,
            legend=False,
            ax=ax,
        )
        ax.set_xlabel("target resolution R (Å)"), ax.set_ylabel(METRIC_LABELS.get(metric, metric))
    if axes[0][-1].get_legend() is not None:
        sns.move_legend(axes[0][-1], "upper left", bbox_to_anchor=(1.02, 1), fontsize=8, title=None)
    fig.text(0.01, 0.01, "x: one entry at its reported resolution", fontsize=8)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return fig


def metric_points(scores: pd.DataFrame, metrics: list[str], x: str, hue: str) -> plt.Figure:
    """One panel per metric: the mean (points, joined per ``hue`` group) and the entries' range (bars) at each ``x``
    category, e.g. the conditioning ablation's variants at the reported and coarser resolutions."""
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.6 * len(metrics), 3.6), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        sns.pointplot(
            data=scores,
            x=x,
            y=metric,
            hue=hue,
            errorbar=("pi", 100),
            dodge=0.3,
            ax=ax,
            markersize=4,
            linewidth=1.2,
            legend=ax is axes[0][-1],
        )
        ax.set_xlabel(""), ax.set_ylabel(METRIC_LABELS.get(metric, metric))
    if axes[0][-1].get_legend() is not None:
        sns.move_legend(axes[0][-1], "upper left", bbox_to_anchor=(1.02, 1), fontsize=8, title=None)
    fig.tight_layout()
    return fig


def seed_points(
    per_seed: pd.DataFrame, metrics: list[str], x: str, hue: str | None = None, order: list[str] | None = None
) -> plt.Figure:
    """One panel per metric: the mean over seeds with error bars of one standard deviation over seeds, and each
    seed's value as a dot (``per_seed``: one row per variant, seed and ``x``;
    :func:`s2mlib.study.spread.seed_means`)."""
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.6 * len(metrics), 3.8), squeeze=False)
    # ``order`` orders the hue groups (with ``hue``) or the x categories (without, coloured by x)
    common = dict(data=per_seed, x=x, hue=hue or x, hue_order=order, order=None if hue else order)
    for ax, metric in zip(axes[0], metrics):
        sns.stripplot(**common, y=metric, dodge=hue is not None, alpha=0.45, size=3.5, ax=ax, legend=False)
        sns.pointplot(
            **common,
            y=metric,
            errorbar="sd",
            dodge=0.55 if hue else False,
            linestyle="none",
            markers="D",
            markersize=4,
            capsize=0.15,
            err_kws={"linewidth": 1.2},
            ax=ax,
            legend=hue is not None and ax is axes[0][-1],
        )
        ax.set_xlabel(""), ax.set_ylabel(METRIC_LABELS.get(metric, metric))
        if hue is None:
            plt.setp(ax.get_xticklabels(), rotation=40, ha="right", rotation_mode="anchor")
    if axes[0][-1].get_legend() is not None:
        sns.move_legend(axes[0][-1], "upper left", bbox_to_anchor=(1.02, 1), fontsize=8, title=None)
    n = per_seed["seed"].nunique() if "seed" in per_seed else 1
    fig.suptitle(f"mean and standard deviation over {n} seed(s); dots: one seed each", fontsize=9)
    fig.tight_layout()
    return fig


def residue_profile(profile: pd.DataFrame, methods: list[str], score: str = "Q-score") -> plt.Figure:
    """Per-residue scores along the chain(s): one line per method (columns of ``profile``), the residues' secondary
    structure (``ss`` column: helix / strand / coil) as coloured bands (:data:`SS_COLOURS`); chains side by side."""
    fig, ax = plt.subplots(figsize=(max(6.0, len(profile) / 40), 3.4))
    x = np.arange(len(profile))
    ss = profile["ss"].to_numpy()
    starts = np.flatnonzero(np.r_[True, ss[1:] != ss[:-1]])
    for start, stop in zip(starts, np.r_[starts[1:], len(ss)]):
        if ss[start] != "coil":
            ax.axvspan(start - 0.5, stop - 0.5, color=SS_COLOURS[ss[start]], alpha=0.18, lw=0)
    for method in methods:
        ax.plot(x, profile[method], lw=1.0, label=f"{method} (mean {profile[method].mean():.3f})")
    chain_starts = np.flatnonzero(np.r_[True, profile["chain"].to_numpy()[1:] != profile["chain"].to_numpy()[:-1]])
    for start in chain_starts[1:]:
        ax.axvline(start - 0.5, color="k", lw=0.8)
    step = max(1, len(x) // 12)
    ax.set_xticks(
        x[::step], [f"{c}{n}" for c, n in zip(profile["chain"][::step], profile["residue_number"][::step])], fontsize=7
    )
    ax.set_xlabel("residue (bands: pink helix, blue strand)"), ax.set_ylabel(score)
    ax.legend(fontsize=8, loc="lower right")
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


def ca_trace(table: pd.DataFrame, colours: Mapping[str, str] = SS_COLOURS) -> list[tuple[np.ndarray, str]]:
    """The CA trace of a :func:`s2mlib.sim.structures.secondary_structure` table as ``[(xyz (n, 3), colour), ...]``
    segments for :func:`isosurface_grid`. A segment ends at a chain break (a new ``run``: no line drawn across it)
    or where the secondary structure changes; there it runs on to the next segment's first CA, so the trace stays
    joined.
    """
    if table.empty:
        return []
    xyz = table[["x", "y", "z"]].to_numpy(dtype=float)
    ss = table["ss"].to_numpy()
    segments = []
    for run in np.split(np.arange(len(table)), np.flatnonzero(np.diff(table["run"].to_numpy())) + 1):
        change = np.flatnonzero(ss[run][1:] != ss[run][:-1]) + 1
        for part in np.split(np.arange(len(run)), change):
            stop = min(part[-1] + 2, len(run))  # include the next segment's first CA
            segments.append((xyz[run[part[0] : stop]], colours[ss[run[part[0]]]]))
    return segments


EMDB_Q_LINE = (1.119, -0.178)  # mean Q ~ 1.119 - 0.178 R over EMDB's maps (Pintilie et al. 2020, Nat. Methods 17: 328)


def q_vs_resolution(
    series: pd.DataFrame,
    experimental: pd.DataFrame,
    emdb: pd.DataFrame,
    order: list[str] | None = None,
) -> plt.Figure:
    """Realism: mean Q-score against resolution, in two panels. ``series`` (entry, target, method, q_mean,
    q_mean_emdb): maps made at R, the mean over entries per method and R with the entries' range as a band;
    ``experimental`` (resolution, q_mean, q_mean_emdb): experimental maps at their reported resolution, as crosses.
    Left, mapq's default Q (reference sigma 0.6 A) with EMDB's line (:data:`EMDB_Q_LINE`, Pintilie et al. 2020) over
    1.5-6 A; right, Q as EMDB computes it (sigma 0.4 A) over EMDB's own percentiles by resolution (``emdb``:
    resolution, p10, p25, p50, p75, p90; :func:`s2mlib.sim.quality.percentile_table`): median, interquartile range and
    10th-90th percentiles of 10,188 entries."""
    fig, axes = plt.subplots(1, 2, figsize=(11.5, 4.2), sharex=True)
    for ax, column, title in (
        (axes[0], "q_mean", "Q-score, sigma 0.6 Å (mapq's default)"),
        (axes[1], "q_mean_emdb", "Q-score, sigma 0.4 Å (EMDB's)"),
    ):
        sns.lineplot(
            data=series,
            x="target",
            y=column,
            hue="method",
            hue_order=order,
            errorbar=("pi", 100),
            marker="o",
            markersize=4,
            ax=ax,
            legend=ax is axes[1],
        )
        ax.scatter(
            experimental["resolution"],
            experimental[column],
            color="black",
            marker="x",
            s=30,
            zorder=5,
            label="experimental maps (reported R)",
        )
        ax.set_xlabel("resolution R (Å)"), ax.set_ylabel("mean Q-score"), ax.set_title(title, fontsize=9)
    r = np.linspace(1.5, 6.0, 50)  # where the line is positive: it is a straight-line fit, not a law at 10 A
    axes[0].plot(r, EMDB_Q_LINE[0] + EMDB_Q_LINE[1] * r, "k--", linewidth=1, label="EMDB: 1.119 − 0.178 R")
    axes[0].legend(fontsize=7, loc="lower left")
    shown = emdb[emdb["resolution"] <= series["target"].max() + 0.5]
    axes[1].fill_between(shown["resolution"], shown["p10"], shown["p90"], color="0.85", label="EMDB 10th-90th pct.")
    axes[1].fill_between(shown["resolution"], shown["p25"], shown["p75"], color="0.7", label="EMDB 25th-75th pct.")
    axes[1].plot(shown["resolution"], shown["p50"], "k--", linewidth=1, label="EMDB median")
    axes[1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1))
    fig.tight_layout()
    return fig


def half_map_fsc(curves: pd.DataFrame, threshold: float = 0.143) -> plt.Figure:
    """Half-map FSC curves (columns target, frequency, fsc; one curve per target R), the 0.143 line, and 1/R of
    each curve marked in its colour."""
    fig, ax = plt.subplots(figsize=(6.0, 3.6))
    palette = sns.color_palette("viridis", curves["target"].nunique())
    for colour, (target, curve) in zip(palette, curves.groupby("target")):
        ax.plot(curve["frequency"], curve["fsc"], color=colour, linewidth=1.3, label=f"R = {target:g} Å")
        ax.axvline(1.0 / target, color=colour, linestyle=":", linewidth=1)
    ax.axhline(threshold, color="black", linewidth=0.8, linestyle="--")
    ax.text(ax.get_xlim()[1], threshold + 0.02, f"FSC {threshold}", ha="right", fontsize=8)
    ax.set_xlabel("spatial frequency (1/Å); dotted: 1/R"), ax.set_ylabel("FSC of the half maps")
    ax.set_ylim(-0.1, 1.02)
    ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    return fig


def detection_vs_snr(tables: Mapping[str, pd.DataFrame], metrics: list[str], order: list[str]) -> plt.Figure:
    """One row per study (e.g. tomograms, micrographs), one panel per metric against the SNR (log scale): the mean
    over entries per template (columns snr, template, metrics)."""
    fig, axes = plt.subplots(len(tables), len(metrics), figsize=(3.3 * len(metrics), 3.0 * len(tables)), squeeze=False)
    for r, (name, table) in enumerate(tables.items()):
        for ax, metric in zip(axes[r], metrics):
            sns.lineplot(
                data=table, x="snr", y=metric, hue="template", hue_order=order, marker="o", markersize=4,
                errorbar=None, ax=ax, legend=(r == 0 and ax is axes[0][-1]),
            )  # fmt: skip
            ax.set_xscale("log"), ax.set_xlabel(f"SNR ({name})"), ax.set_ylabel(metric.replace("_", " "))
    if axes[0][-1].get_legend() is not None:
        sns.move_legend(axes[0][-1], "upper left", bbox_to_anchor=(1.02, 1), fontsize=8, title=None)
    fig.tight_layout()
    return fig


def image_row(images: Mapping[str, np.ndarray], cmap: str = "gray") -> plt.Figure:
    """2D images side by side, each with its title."""
    fig, axes = plt.subplots(1, len(images), figsize=(2.4 * len(images), 2.6), squeeze=False)
    for ax, (title, image) in zip(axes[0], images.items()):
        ax.imshow(image, cmap=cmap, origin="lower")
        ax.set_xticks([]), ax.set_yticks([])
        ax.set_title(title, fontsize=8)
    fig.tight_layout()
    return fig
