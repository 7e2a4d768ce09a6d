"""PNG figures of `analyze landscape` (Agg backend): neighbor histograms per radius, radius curves, clustering.

Every figure draws numbers that landscape.json also holds (the histograms draw the neighbor values whose summary
statistics are in the radius curves).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def neighbor_histograms(
    population: np.ndarray,
    refs: Sequence[dict[str, Any]],
    samples: Sequence[Sequence[np.ndarray]],
    radius_index: int,
    radius: int,
    metric: str,
    path: Path,
    bins: int = 60,
) -> Path:
    """One panel per reference architecture: its radius-r neighbors' values against the whole table (densities),
    as A²M's histogram figure (profile_nasbench.py plot_histograms)."""
    plt = _pyplot()
    fig, axes = plt.subplots(len(refs), 1, figsize=(6, 2.2 * len(refs)), squeeze=False, sharex=True)
    edges = np.linspace(float(population.min()), float(population.max()), bins + 1)
    for ax, ref, sample in zip(axes[:, 0], refs, samples):
        ax.hist(population, bins=edges, density=True, histtype="stepfilled", color="tab:green", alpha=0.35, label="all")
        ax.hist(
            sample[radius_index],
            bins=edges,
            density=True,
            histtype="step",
            color="tab:blue",
            linewidth=1.5,
            label=f"radius {radius}",
        )
        ax.axvline(ref["value"], color="black", linestyle="--", linewidth=1)
        ax.set_title(f"{ref['label']} (#{ref['arch_index']}, {ref['value']:.2f})", fontsize=9)
        ax.set_ylabel("density")
    axes[0, 0].legend(fontsize=8)
    axes[-1, 0].set_xlabel(metric)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def radius_curves(refs: Sequence[dict[str, Any]], radii: Sequence[int], metric: str, path: Path) -> Path:
    """Mean ± std of the metric at distance exactly r (r = 0: the architecture itself)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    xs = [0, *radii]
    for ref in refs:
        mean, std = np.array(ref["curve"]["mean"]), np.array(ref["curve"]["std"])
        ax.errorbar(xs, mean, yerr=std, marker="s", capsize=3, label=f"{ref['label']} (#{ref['arch_index']})")
    ax.set_xticks(xs)
    ax.set_xlabel("Hamming radius r")
    ax.set_ylabel(f"{metric}\nmean ± std at distance r")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def clustering_histogram(top_hist: np.ndarray, all_hist: np.ndarray, label: str, path: Path) -> Path:
    """Fraction of pairs at each Hamming distance: among the top architectures vs all pairs of the table."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    xs = np.arange(len(all_hist))
    ax.bar(xs - 0.2, top_hist / top_hist.sum(), width=0.4, label=label)
    ax.bar(xs + 0.2, all_hist / all_hist.sum(), width=0.4, label="all pairs")
    ax.set_xlabel("Hamming distance")
    ax.set_ylabel("fraction of pairs")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
