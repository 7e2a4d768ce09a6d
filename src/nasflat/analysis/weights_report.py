"""The files `analyze weights` writes: weights.md (main table, settings, 1D curve), weights.csv (every landscape
point), weights.json (everything) and three PNGs (1D loss/accuracy, 2D loss contour, 2D accuracy contour).

Figures and tables are drawn from the same result dict, so a figure never shows a number the tables do not.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from nasflat.plots import _pyplot
from nasflat.rundir import write_atomic

NAME = "weights"


def main_rows(r: dict[str, Any]) -> list[tuple[str, str]]:
    """(quantity, value) rows of the main table: centre loss/accuracy, λ_max, trace, F, and how BN ran."""
    im, h, f = r["images"], r["hessian"], r["flatness"]
    land = f"{im['landscape']['count']} {im['landscape']['split']} images"
    hess = f"{im['hessian']['count']} {im['hessian']['split']} images, {h['num_params']:,} parameters"
    flat = f"{im['flatness']['count']} {im['flatness']['split']} images"
    stds = ", ".join(f"{s:g}" for s in f["stds"])
    converged = "converged" if h["converged"] else "NOT converged"
    return [
        (f"loss at the centre ({land})", f"{r['centre']['loss']:.6g}"),
        (f"accuracy at the centre ({land})", f"{100 * r['centre']['acc']:.2f}%"),
        (
            f"dominant Hessian eigenvalue λ_max ({hess})",
            f"{h['eigenvalue']:.6g} ({h['iterations']} power iterations, {converged})",
        ),
        (
            f"Hessian trace, Hutchinson ({r['settings']['trace_samples']} Rademacher probes)",
            f"{h['trace']:.6g} ± {h['trace_se']:.3g} (s.e.)",
        ),
        (
            f"GeNAS flatness F (σ = {stds}; {flat})",
            f"{f['F']:.6g} (L_i = {', '.join(f'{x:.6g}' for x in f['losses'])}; L_0 = {f['loss_0']:.6g})",
        ),
        ("BatchNorm", r["bn"]),
    ]


def markdown_table(rows: list[tuple[str, str]], header: tuple[str, str] = ("quantity", "value")) -> str:
    lines = [f"| {header[0]} | {header[1]} |", "|---|---|"]
    return "\n".join([*lines, *(f"| {a} | {b} |" for a, b in rows)])


def markdown(r: dict[str, Any], pngs: dict[str, Path]) -> str:
    src = r["source"]
    curve = r["landscape_1d"]
    span = r["settings"]["span"]
    parts = [
        f"# Weight-space landscape: {src['kind']} `{src['arch']}`",
        f"Weights: `{src['file']}` ({src['params']:,} parameters, {src['dataset']}, {src['device']} {src['dtype']}).",
        markdown_table(main_rows(r)),
        "## 1D landscape along one filter-normalized direction (BN and bias directions zero)",
        markdown_table(
            [(f"{a:+.3f}", f"{loss:.6g} / {100 * acc:.2f}%") for a, loss, acc in zip(*curve.values())],
            ("α", "loss / accuracy"),
        ),
        f"2D grid: {len(r['landscape_2d']['x'])}×{len(r['landscape_2d']['y'])} points over [-{span:g}, {span:g}]², "
        f"every point in {NAME}.csv. Seed {r['seed']}; settings in {NAME}.json.",
        "Figures: " + ", ".join(f"[{p.name}]({p.name})" for p in pngs.values()),
        "Wall time (s): " + ", ".join(f"{k} {v:.1f}" for k, v in r["wall_time_s"].items()),
    ]
    return "\n\n".join(parts) + "\n"


def csv_rows(r: dict[str, Any]) -> list[dict[str, Any]]:
    """Every landscape point: plot (1d | 2d), x, y (empty in 1D), loss, acc."""
    c, s = r["landscape_1d"], r["landscape_2d"]
    rows = [
        {"plot": "1d", "x": a, "y": "", "loss": lo, "acc": ac} for a, lo, ac in zip(c["coords"], c["loss"], c["acc"])
    ]
    for j, b in enumerate(s["y"]):
        for i, a in enumerate(s["x"]):
            rows.append({"plot": "2d", "x": a, "y": b, "loss": s["loss"][j][i], "acc": s["acc"][j][i]})
    return rows


def plot_1d(r: dict[str, Any], path: Path) -> Path:
    plt = _pyplot()
    c = r["landscape_1d"]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(c["coords"], c["loss"], "o-", color="C0", label="loss")
    ax.set_xlabel("α (filter-normalized direction)")
    ax.set_ylabel("cross-entropy", color="C0")
    ax2 = ax.twinx()
    ax2.plot(c["coords"], [100 * a for a in c["acc"]], "s--", color="C1", label="accuracy")
    ax2.set_ylabel("accuracy (%)", color="C1")
    ax.set_title(f"1D landscape, {r['images']['landscape']['count']} {r['images']['landscape']['split']} images")
    ax.grid(alpha=0.3)
    return _save(plt, fig, path)


def plot_2d(r: dict[str, Any], key: str, path: Path) -> Path:
    plt = _pyplot()
    s = r["landscape_2d"]
    values = s[key] if key == "loss" else [[100 * v for v in row] for row in s[key]]
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    filled = ax.contourf(s["x"], s["y"], values, levels=20, cmap="viridis")
    ax.contour(s["x"], s["y"], values, levels=10, colors="k", linewidths=0.4)
    fig.colorbar(filled, ax=ax, label="cross-entropy" if key == "loss" else "accuracy (%)")
    ax.plot([0], [0], "r+", markersize=10)
    ax.set_xlabel("α (direction 1)")
    ax.set_ylabel("β (direction 2)")
    ax.set_title(f"2D {key} landscape, {r['source']['arch'][:48]}", fontsize=8)
    return _save(plt, fig, path)


def _save(plt: Any, fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write(r: dict[str, Any], out_dir: Path) -> dict[str, Path]:
    """Write every file; returns them by kind."""
    out_dir.mkdir(parents=True, exist_ok=True)
    pngs = {
        "1d": plot_1d(r, out_dir / f"{NAME}_1d.png"),
        "2d_loss": plot_2d(r, "loss", out_dir / f"{NAME}_2d_loss.png"),
        "2d_acc": plot_2d(r, "acc", out_dir / f"{NAME}_2d_acc.png"),
    }
    files = {"md": out_dir / f"{NAME}.md", "csv": out_dir / f"{NAME}.csv", "json": out_dir / f"{NAME}.json"}
    write_atomic(files["md"], markdown(r, pngs))
    write_atomic(files["json"], json.dumps(r, indent=2))
    with files["csv"].open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["plot", "x", "y", "loss", "acc"])
        writer.writeheader()
        writer.writerows(csv_rows(r))
    return {**files, **{f"png_{k}": v for k, v in pngs.items()}}
