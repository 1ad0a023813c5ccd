"""How clean is a direction? Sweep it, score every attribute, and write figures and numbers.

For each direction: z_i + s * scale * n for `samples` seeds i and strengths s (default -3..3 in 7
steps; scale = the direction's strength unit, 1 in Z, the std of sampled w along n in W, as the
editor applies it), rendered and scored by the predictor (binary attributes as probabilities,
continuous in label units):

- response: mean and std of every attribute's score at each strength;
- slope: least-squares slope of score vs strength (label units per unit of z), and the same divided
  by the attribute's std over the unedited samples ("normalised": 1.0 = one std per unit step);
- monotonicity: share of samples whose target score never decreases along the sweep by more than
  5% of the target's std over the unedited samples (the predictor's own jitter);
- entanglement matrix: rows = fitted attribute directions, columns = attributes, normalised slopes;
  once with the plain directions ("plain") and once with every other fitted attribute held fixed
  ("held");
- mean absolute change: per attribute, the mean over samples of |score(end) - score(unedited)| at
  both ends of the sweep, in stds. It catches attributes that move differently per sample (a hue
  that shifts one way for some faces and the other way for others), which the mean slope misses;
- identity drift: mean feature distance to the unedited image, divided by the mean distance
  between two different unedited samples (0 = same image, 1 = as different as another face);
- attribute dependency (StyleSpace, Wu et al. 2021) of every attribute direction, plain and held, at
  the sweep's positive strengths (default +1/+2/+3): the mean |change| of each other attribute in
  its own stds, and that per std the target moved (`latentkit.metrics.attribute_dependency`);
- cosines between the fitted attribute directions (`latentkit.metrics.direction_cosines`).

A random unit direction (seed 0) is swept too, as "random": the yardstick for side effects and
drift that any step of that length causes.

Written to DIR: report.json (every number), report.md (tables), grid_<name>.png (edit grids: rows
are seeds, columns strengths) and responses.png (response curves). Grids are diagnostic figures,
not exports: they carry no provenance.
"""

from __future__ import annotations

import io
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from latentkit.errors import LatentkitError
from latentkit.io import write_bytes, write_json
from latentkit.latent.directions import (
    HELD,
    check_predictor,
    draw_latents,
    held_name,
    sampled_scale,
    score_latents,
)
from latentkit.latent.editor import Editor
from latentkit.metrics.disentangle import attribute_dependency, direction_cosines, separability_by_space
from latentkit.models.latents import map_to_w, spaces_of, synthesize

MONOTONE_TOL = 0.05  # in stds of the unedited scores: smaller dips are predictor jitter, not reversals


def sweep(
    editor: Editor,
    predictor,
    z: np.ndarray,
    vector: np.ndarray,
    strengths: np.ndarray,
    batch: int = 64,
    progress: bool = False,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Scores and features along z + s * vector: (name -> (S, N) scores, features (S, N, F))."""
    zs = (z[None] + strengths[:, None, None] * vector[None, None]).reshape(-1, z.shape[1])
    scores, feats = score_latents(
        editor.bundle,
        predictor,
        zs,
        batch,
        binary_as="probability",
        features=True,
        progress=progress,
        space=editor.space,
    )
    shape = (len(strengths), len(z))
    return {k: v.reshape(shape) for k, v in scores.items()}, feats.reshape(*shape, -1)


def summarise(
    scores: dict[str, np.ndarray],
    feats: np.ndarray,
    strengths: np.ndarray,
    base: dict[str, np.ndarray],
    base_feats: np.ndarray,
    base_spread: float,
    target: str | None,
) -> dict[str, Any]:
    """The numbers of one sweep (see the module docstring); `target` is None for unsupervised ones.

    scores: name -> (S, N) along the sweep; feats: (S, N, F); base, base_feats: the unedited (N,)
    scores and (N, F) features; base_spread: mean feature distance between unedited samples.
    """
    s = strengths - strengths.mean()
    out: dict[str, Any] = {"strengths": strengths.tolist(), "response": {}, "slope": {}}
    out.update(normalised_slope={}, mean_abs_change={})
    for name, v in scores.items():  # v: (S, N)
        std = float(base[name].std()) or 1.0
        slope = float(s @ (v.mean(axis=1) - v.mean()) / (s @ s)) if len(s) > 1 else 0.0
        out["response"][name] = {"mean": v.mean(axis=1).tolist(), "std": v.std(axis=1).tolist()}
        out["slope"][name] = slope
        out["normalised_slope"][name] = slope / std
        out["mean_abs_change"][name] = float(np.abs(v[[0, -1]] - base[name]).mean() / std)
    drift = np.linalg.norm(feats - base_feats[None], axis=2).mean(axis=1) / base_spread
    out["identity_drift"] = drift.tolist()
    if target is not None:
        sign = 1.0 if out["slope"][target] >= 0 else -1.0
        steps = np.diff(sign * scores[target], axis=0)
        out["target"] = target
        tol = MONOTONE_TOL * float(base[target].std())
        out["monotonicity"] = float(np.mean(np.all(steps >= -tol, axis=0)))
    else:
        norm = out["normalised_slope"]
        out["dominant_attribute"] = max(norm, key=lambda k: abs(norm[k])) if norm else None
    return out


def edit_effect(
    editor: Editor,
    predictor,
    name: str,
    strength: float,
    hold: list[str] | tuple[str, ...] = (),
    samples: int = 500,
    seed: int = 0,
) -> dict[str, Any]:
    """Edit seeds seed..seed+samples-1 by `strength` along `name` (`hold` held fixed), score both sides.

    Returns {"raised_fraction": share of samples whose `name` score rose (or fell, for a negative
    strength), "mean_change": mean change of that score (label units; probabilities for binary
    attributes), "mean_abs_change": attribute -> mean |change| (label units)}.
    """
    z = np.stack([editor.sample(s) for s in range(seed, seed + samples)])
    edited = editor.edit(z, {name: strength}, hold=list(hold))
    before, _ = score_latents(editor.bundle, predictor, z, binary_as="probability", space=editor.space)
    after, _ = score_latents(editor.bundle, predictor, edited, binary_as="probability", space=editor.space)
    if name not in before:
        raise LatentkitError(f"edit_effect: the predictor does not score {name!r}")
    change = {k: after[k] - before[k] for k in before}
    moved = np.sign(strength) * change[name] > 0
    return {
        "direction": name,
        "strength": float(strength),
        "hold": list(hold),
        "samples": samples,
        "raised_fraction": float(moved.mean()),
        "mean_change": float(change[name].mean()),
        "mean_abs_change": {k: float(np.abs(v).mean()) for k, v in change.items()},
    }


def _grid(editor: Editor, z: np.ndarray, vector: np.ndarray, strengths: np.ndarray, path: Path) -> None:
    """Edit grid PNG: one row per latent in z, one column per strength, tiles >= 64 px."""
    from latentkit.pixels import to_uint8
    from latentkit.viz import image_grid, save_figure

    zs = (z[:, None] + strengths[None, :, None] * vector[None, None]).reshape(-1, z.shape[1])
    with torch.inference_mode():
        x = synthesize(editor.bundle.generator, torch.from_numpy(zs.astype(np.float32)), editor.space)
    scale = max(1, 64 // editor.bundle.config.resolution)
    captions = [f"{s:+.1f}" for s in strengths] * len(z)
    save_figure(path, image_grid(to_uint8(x.cpu()), nrow=len(strengths), captions=captions, scale=scale))


def _plot(results: dict[str, Any], attributes: list[str], path: Path) -> None:
    """Response curves: one panel per direction, normalised mean score of every attribute vs strength."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results)
    cols = min(4, len(names))
    rows = -(-len(names) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.6 * rows), squeeze=False)
    colours = {a: f"C{i}" for i, a in enumerate(attributes)}
    for ax, name in zip(axes.flat, names, strict=False):
        r = results[name]
        for a in attributes:
            mean = np.asarray(r["response"][a]["mean"])
            std = r["base_std"][a] or 1.0
            width = 2.5 if a == r.get("target") else 1.0
            ax.plot(r["strengths"], (mean - r["base_mean"][a]) / std, color=colours[a], lw=width, label=a)
        ax.set_title(name, fontsize=9)
        ax.axhline(0, color="0.8", lw=0.5)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(names) :]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=6)
    fig.supxlabel("strength (z units)", fontsize=8)
    fig.supylabel("score change (stds of unedited samples)", fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    write_bytes(path, buf.getvalue())


def direction_report(
    editor: Editor,
    predictor,
    out: str | os.PathLike,
    names: list[str] | None = None,
    samples: int = 200,
    strengths: np.ndarray | None = None,
    grid_rows: int = 6,
    batch: int = 64,
    progress: bool = True,
    separability_samples: int = 2000,
) -> dict[str, Any]:
    """Sweep every direction in `names` (default: all) on seeds 0..samples-1; write DIR; return the JSON.

    Fitted attribute directions are also swept with every other fitted attribute the predictor
    scores held fixed, labelled as that stored variant would be named ("age_hold_glasses_smile").
    With `separability_samples` > 0, StyleGAN's linear separability of the fitted attributes is
    measured on that many fresh samples in Z and, for style-based models, in W (`separability`).
    """
    from tqdm.auto import tqdm

    out = Path(out)
    strengths = np.linspace(-3, 3, 7) if strengths is None else np.asarray(strengths, dtype=np.float64)
    directions = editor.directions
    names = list(directions) if names is None else names
    for name in names:
        editor.direction(name)  # unknown names fail before any work, listing the known ones
    if samples < 2:
        raise LatentkitError(f"report: need at least 2 samples, got {samples}")
    if editor.space == "w+":
        raise LatentkitError("report: sweep directions in z or w (an editor in w+ has no one w per sample)")
    attributes = [a.name for a in predictor.attributes if a.kind != "categorical"]
    check_predictor(editor.bundle, predictor, attributes)
    fitted = [n for n in directions if directions[n].meta.get("kind") == "supervised" and n in attributes]

    z = np.stack([editor.sample(seed) for seed in range(samples)])
    base, base_feats = score_latents(
        editor.bundle, predictor, z, batch, "probability", features=True, space=editor.space
    )
    base_std = {a: float(base[a].std()) for a in attributes}
    pairs = np.random.default_rng(0).permutation(samples)
    spread = float(np.linalg.norm(base_feats - base_feats[pairs], axis=1)[pairs != np.arange(samples)].mean())

    jobs = {}  # label -> (direction, vector, target, hold)
    for name in names:
        meta = directions[name].meta if name in directions else {}
        parent = meta.get("base") if meta.get("kind") == HELD else None
        target = name if name in fitted else (parent if parent in attributes else None)
        unit = directions[name].scale  # strengths are in the direction's units (1 in Z)
        jobs.setdefault(name, (name, unit * editor.direction(name), target, []))
        others = [o for o in fitted if o != name]
        if name in fitted and others:  # a stored variant of the same name sweeps the same vector
            jobs[held_name(name, others)] = (name, unit * editor.direction(name, others), target, others)
    # The yardstick: how much does any unit direction move things? (a 3-unit step is ~27% of |z|)
    rand = np.random.default_rng(0).standard_normal(editor.latent_dim)
    rand /= np.linalg.norm(rand)
    jobs["random"] = ("random", sampled_scale(editor.bundle, editor.vector_space, rand) * rand, None, [])

    results: dict[str, Any] = {}
    dependency: dict[str, Any] = {}
    for label, (name, vector, target, hold) in tqdm(
        jobs.items(), desc="directions", disable=not progress, unit="dir"
    ):
        scores, feats = sweep(editor, predictor, z, vector, strengths, batch)
        r = summarise(scores, feats, strengths, base, base_feats, spread, target)
        if target is not None:
            edited = {
                float(s): {a: scores[a][i] for a in attributes} for i, s in enumerate(strengths) if s > 0
            }
            dependency[label] = asdict(attribute_dependency({a: base[a] for a in attributes}, edited, target))
        grid = f"grid_{label}.png"
        _grid(editor, z[:grid_rows], vector, strengths, out / grid)
        meta = directions[name].meta if name in directions else {"kind": "baseline"}
        results[label] = {
            "direction": name,
            "hold": hold,
            "kind": meta.get("kind"),
            "method": meta.get("method"),
            "validation": meta.get("validation"),
            "metric": meta.get("metric"),
            "base_mean": {a: float(base[a].mean()) for a in attributes},
            "base_std": base_std,
            "grid": grid,
            **r,
        }
    _plot(results, attributes, out / "responses.png")

    def matrix(held: bool) -> dict[str, dict[str, float]]:
        rows = {}
        for r in results.values():
            if r.get("target") and bool(r["hold"]) == held:
                rows[r["direction"]] = {a: round(r["normalised_slope"][a], 4) for a in attributes}
        return rows

    cos_names, cos = direction_cosines({n: directions[n].vector for n in fitted})
    cosines = {  # + 0.0 turns a rounded -0.0 into 0.0
        a: {b: round(float(cos[i, j]), 4) + 0.0 for j, b in enumerate(cos_names)}
        for i, a in enumerate(cos_names)
    }
    report = {
        "model": {"name": editor.bundle.name, "weights_sha256": editor.bundle.weights_sha256},
        "space": editor.space,
        "samples": samples,
        "seeds": f"0-{samples - 1}",
        "strengths": strengths.tolist(),
        "attributes": attributes,
        "identity_spread": spread,
        "entanglement": {"plain": matrix(False), "held": matrix(True)},
        "cosines": cosines,
        "dependency": dependency,
        "separability": separability(editor, predictor, fitted or attributes, separability_samples, batch),
        "directions": results,
        "figures": {"responses": "responses.png", **{k: r["grid"] for k, r in results.items()}},
    }
    write_json(out / "report.json", report)
    write_bytes(out / "report.md", format_markdown(report).encode())
    return report


def separability(editor: Editor, predictor, attributes: list[str], samples: int, batch: int = 64) -> dict:
    """space -> {"score", "entropy": attribute -> bits, "kept"}: linear separability (Karras et al.
    2019, `metrics.disentangle`) of `attributes` on `samples` latents (seed 1) in Z and, for
    style-based models, in W = mapping(the same z). Empty when `samples` is 0."""
    if samples <= 0 or not attributes:
        return {}
    G = editor.bundle.generator
    z = draw_latents(samples, editor.bundle.config.latent_dim, seed=1)
    scores, _ = score_latents(editor.bundle, predictor, z, batch, "probability")
    spaces = {"z": z, **({"w": map_to_w(G, z)} if "w" in spaces_of(G) else {})}
    binary = [a.name for a in predictor.attributes if a.kind == "binary" and a.name in attributes]
    found = separability_by_space(spaces, {a: scores[a] for a in attributes}, binary=binary)
    return {space: asdict(result) for space, result in found.items()}


def format_markdown(report: dict[str, Any]) -> str:
    """report.md: a summary table per direction, the two entanglement matrices, the cosines between the
    fitted directions and their attribute dependency."""
    attrs = report["attributes"]
    lines = [
        f"# Direction report: {report['model']['name']}",
        "",
        f"Seeds {report['seeds']}, strengths {report['strengths'][0]:g}..{report['strengths'][-1]:g} "
        f"({len(report['strengths'])} steps). Slopes are score change per unit strength in stds of the "
        "unedited samples; drift is at the largest |strength|; the side effect is the other attribute "
        "with the largest mean |change| at the ends of the sweep (stds).",
        "",
        "| direction | method | validation | target slope | monotonic | identity drift | side effect |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, r in report["directions"].items():
        val = f"{r['validation']:.3f} {r['metric']}" if r.get("validation") is not None else "-"
        target = r.get("target") or r.get("dominant_attribute")
        slope = f"{r['normalised_slope'][target]:+.2f} ({target})" if target else "-"
        mono = f"{r['monotonicity']:.2f}" if "monotonicity" in r else "-"
        drift = max(r["identity_drift"][0], r["identity_drift"][-1])
        change = {a: c for a, c in r["mean_abs_change"].items() if a != target}
        side = max(change, key=change.get) if change else None
        effect = f"{side} {change[side]:.2f}" if side else "-"
        method = r["method"] or r["kind"]
        lines.append(f"| {label} | {method} | {val} | {slope} | {mono} | {drift:.2f} | {effect} |")
    for key in ("plain", "held"):
        rows = report["entanglement"][key]
        if not rows:
            continue
        lines += ["", f"Entanglement ({key}): rows = direction, columns = attribute response", ""]
        lines += ["| | " + " | ".join(attrs) + " |", "|---" * (len(attrs) + 1) + "|"]
        lines += [f"| {d} | " + " | ".join(f"{row[a]:+.2f}" for a in attrs) + " |" for d, row in rows.items()]
    return "\n".join(lines + _disentanglement_markdown(report)) + "\n"


def _disentanglement_markdown(report: dict[str, Any]) -> list[str]:
    """report.md's cosine matrix and attribute-dependency table (empty without fitted directions)."""
    lines, cos = [], report.get("cosines", {})
    sep = report.get("separability") or {}
    if sep:
        names = list(next(iter(sep.values()))["entropy"])
        lines += [
            "",
            f"Linear separability (Karras et al. 2019; lower is better, 1 = every attribute linearly "
            f"separable) on {next(iter(sep.values()))['kept'] * 2} samples, the edits live in "
            f"{report.get('space', 'z').upper()}",
            "",
            "| space | score | " + " | ".join(f"H({n}) bits" for n in names) + " |",
            "|---" * (len(names) + 2) + "|",
        ]
        for space, r in sep.items():
            cells = " | ".join(f"{r['entropy'][n]:.3f}" for n in names)
            lines.append(f"| {space.upper()} | {r['score']:.3f} | {cells} |")
    if cos:
        names = list(cos)
        lines += ["", "Cosines between the fitted attribute directions", ""]
        lines += ["| | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
        lines += [f"| {a} | " + " | ".join(f"{cos[a][b]:+.2f}" for b in names) + " |" for a in names]
    deps = {k: d for k, d in report.get("dependency", {}).items() if d["strengths"]}
    if not deps:
        return lines

    def cells(values: list) -> str:
        return " / ".join("-" if v is None else f"{v:.2f}" for v in values)

    attrs = report["attributes"]
    steps = " / ".join(f"{s:+g}" for s in next(iter(deps.values()))["strengths"])
    lines += [
        "",
        f"Attribute dependency (Wu et al. 2021) at strengths {steps}: how far the target moved (its stds), "
        "and each other attribute's mean |change| (its stds) per std the target moved",
        "",
        "| direction | target moved | " + " | ".join(attrs) + " |",
        "|---" * (len(attrs) + 2) + "|",
    ]
    for label, d in deps.items():
        moved = " / ".join(f"{v:+.2f}" for v in d["target_change"])
        row = [cells(d["per_target_std"][a]) if a in d["per_target_std"] else "-" for a in attrs]
        lines.append(f"| {label} | {moved} | " + " | ".join(row) + " |")
    return lines
