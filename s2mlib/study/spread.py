"""Seeds as an axis of every comparison that trains: spreads over seeds, and winners named only where they hold.

A variant trained with seeds s = 1..n scores x_s (the mean over the entries of one training). Its spread is the
sample standard deviation over the seeds. Two variants trained with the same seeds are compared PAIRED over the
seeds (same seed: same initialisation draw, same patch order): with d_s = x_s(leader) - x_s(rival),

    lead = mean(d),   95 % interval = lead +- t(0.975, n - 1) * sd(d) / sqrt(n)        (Student's t, paired)

The variant with the highest mean is named the winner only when that interval lies above 0 against EVERY rival;
otherwise the comparison is "within noise" (and with one seed there is no spread: "one seed").

Example:
    >>> per_seed = pd.DataFrame({"method": ["a", "a", "a", "b", "b", "b"], "seed": [0, 1, 2] * 2,
    ...                          "ssim": [0.80, 0.82, 0.81, 0.70, 0.74, 0.71]})
    >>> spread_table(per_seed, ["method"], ["ssim"]).round(3).to_dict("records")
    [{'method': 'a', 'ssim': 0.81, 'ssim_sd': 0.01, 'seeds': 3}, {'method': 'b', 'ssim': 0.717, 'ssim_sd': 0.021, \
'seeds': 3}]
    >>> leaders(per_seed, "method", ["ssim"])[["metric", "leader", "runner_up", "verdict"]].to_dict("records")
    [{'metric': 'ssim', 'leader': 'a', 'runner_up': 'b', 'verdict': 'a'}]
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import pandas as pd
from scipy import stats

from ..errors import require_columns

WITHIN_NOISE = "within noise"
ONE_SEED = "one seed: no spread"


def seed_list(seed: int, seeds: int) -> list[int]:
    """The seeds of a comparison: ``seed, seed + 1, ..., seed + seeds - 1`` (the profile's ``seed`` and ``seeds``).

    >>> seed_list(0, 3)
    [0, 1, 2]
    """
    if int(seeds) != seeds or seeds < 1:
        raise ValueError(f"seeds must be a whole number of at least 1, not {seeds!r}")
    return [int(seed) + k for k in range(int(seeds))]


def seed_means(scores: pd.DataFrame, by: Sequence[str], metrics: Sequence[str], seed: str = "seed") -> pd.DataFrame:
    """The mean over entries of each metric for every ``by`` group and seed: one row per (group, seed)."""
    require_columns(scores, [*by, seed, *metrics], "scores")
    return scores.groupby([*by, seed], sort=False)[list(metrics)].mean().reset_index()


def spread_table(per_seed: pd.DataFrame, by: Sequence[str], metrics: Sequence[str], seed: str = "seed") -> pd.DataFrame:
    """Mean over seeds (column ``metric``), sample standard deviation over seeds (``metric_sd``; NaN with one seed)
    and the number of seeds, per ``by`` group, from one row per (group, seed) (:func:`seed_means`)."""
    require_columns(per_seed, [*by, seed, *metrics], "per-seed scores")
    grouped = per_seed.groupby(list(by), sort=False)
    table = grouped[list(metrics)].mean()
    for metric in metrics:
        table[f"{metric}_sd"] = grouped[metric].std(ddof=1)
    table["seeds"] = grouped[seed].nunique()
    columns = [c for metric in metrics for c in (metric, f"{metric}_sd")] + ["seeds"]
    return table[columns].reset_index()


def paired_interval(leader: Sequence[float], rival: Sequence[float], confidence: float = 0.95) -> tuple[float, float]:
    """The mean paired difference ``leader - rival`` over seeds and the half-width of its Student-t interval
    (NaN with fewer than two seeds).

    >>> lead, half = paired_interval([0.80, 0.82, 0.81], [0.70, 0.74, 0.71])
    >>> round(lead, 4), round(half, 4)   # d = 0.10, 0.08, 0.10: sd 0.01155, t(0.975, 2) = 4.303
    (0.0933, 0.0287)
    """
    d = pd.Series(leader, dtype=float).to_numpy() - pd.Series(rival, dtype=float).to_numpy()
    if len(d) < 2:
        return float(d.mean()) if len(d) else math.nan, math.nan
    t = stats.t.ppf(0.5 + confidence / 2, len(d) - 1)
    return float(d.mean()), float(t * d.std(ddof=1) / math.sqrt(len(d)))


def leaders(
    per_seed: pd.DataFrame,
    variant: str,
    metrics: Sequence[str],
    within: Sequence[str] = (),
    seed: str = "seed",
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Per ``within`` group (e.g. the target resolution) and metric: the variant with the highest mean over seeds,
    the rival it leads least surely (lowest interval bound), the lead over it with its interval, and the verdict:
    the leader's name when its paired interval is above 0 against every rival, else "within noise" ("one seed: no
    spread" with one seed). Higher scores are better. Only seeds every variant has are paired."""
    require_columns(per_seed, [variant, seed, *within, *metrics], "per-seed scores")
    rows = []
    groups = per_seed.groupby(list(within), sort=False) if within else [((), per_seed)]
    for key, part in groups:
        key = key if isinstance(key, tuple) else (key,)
        for metric in metrics:
            wide = part.pivot_table(index=seed, columns=variant, values=metric, sort=False).dropna()
            means = wide.mean().sort_values(ascending=False)
            best = str(means.index[0])
            rivals = {}
            for other in means.index[1:]:
                lead, half = paired_interval(wide[best], wide[other], confidence)
                rivals[str(other)] = (lead, half, lead - half if not math.isnan(half) else math.nan)
            if not rivals:
                continue
            runner_up = min(rivals, key=lambda name: (rivals[name][2], rivals[name][0]))
            lead, half, low = rivals[runner_up]
            if len(wide) < 2:
                verdict = ONE_SEED
            elif all(bound > 0 for _, _, bound in rivals.values()):
                verdict = best
            else:
                verdict = WITHIN_NOISE
            rows.append(
                {
                    **dict(zip(within, key)),
                    "metric": metric,
                    "leader": best,
                    "runner_up": runner_up,
                    "lead": lead,
                    "ci_low": low,
                    "ci_high": lead + half if not math.isnan(half) else math.nan,
                    "seeds": len(wide),
                    "verdict": verdict,
                }
            )
    return pd.DataFrame(rows)


def with_spreads(table: pd.DataFrame, metrics: Sequence[str], digits: int = 3) -> pd.DataFrame:
    """``table`` (from :func:`spread_table`) for reading: each metric as "mean ± sd" text (sd columns folded in).

    >>> with_spreads(pd.DataFrame({"m": ["a"], "ssim": [0.8123], "ssim_sd": [0.0104], "seeds": [3]}), ["ssim"])
       m           ssim  seeds
    0  a  0.812 ± 0.010      3
    """
    out = table.drop(columns=[f"{m}_sd" for m in metrics])
    for metric in metrics:
        sd = table[f"{metric}_sd"]
        out[metric] = [
            f"{m:.{digits}f}" + ("" if pd.isna(s) else f" ± {s:.{digits}f}") for m, s in zip(table[metric], sd)
        ]
    return out


def readable_leaders(table: pd.DataFrame, labels: Mapping[str, str] | None = None, digits: int = 3) -> pd.DataFrame:
    """:func:`leaders` for a page: the lead and its 95 % interval as one text column, "lead [low, high]", and the
    metric and variant names shortened by ``labels`` (name -> label; others kept)."""
    out = table.drop(columns=["lead", "ci_low", "ci_high"])
    for column in ("metric", "leader", "runner_up", "verdict"):
        out[column] = [(labels or {}).get(name, name) for name in out[column]]
    out.insert(
        out.columns.get_loc("runner_up") + 1,
        "lead [95 % CI]",
        [
            f"{lead:+.{digits}f}" + ("" if pd.isna(low) else f" [{low:+.{digits}f}, {high:+.{digits}f}]")
            for lead, low, high in zip(table["lead"], table["ci_low"], table["ci_high"])
        ],
    )
    return out
