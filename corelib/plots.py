"""Figures the chapters share: learning curves, image grids with predictions, accuracy-vs-ε curves."""
from __future__ import annotations

import inspect
import io
from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from .attacks import sparse_fgsm_levels
from .data import CLASSES
from .models import eval_mode
from .select import align_scores

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from IPython.display import Markdown
    import ipywidgets as widgets
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from numpy.typing import ArrayLike
    from pandas.io.formats.style import Styler
    from .data import Pool


def learning_curves(history: pd.DataFrame, title: str = "") -> Figure:
    """Training loss and train/test accuracy per epoch from a trainer history DataFrame."""
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.5))
    ax1.plot(history["epoch"], history["train_loss"], marker="o")
    ax1.set(xlabel="epoch", ylabel="training loss", title="loss")
    ax2.plot(history["epoch"], history["train_acc"], marker="o", label="train (augmented)")
    if "test_acc" in history:
        ax2.plot(history["epoch"], history["test_acc"], marker="o", label="test")
    ax2.set(xlabel="epoch", ylabel="accuracy", title="accuracy", ylim=(0, 1))
    ax2.legend()
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def image_grid(rows: list[torch.Tensor], row_labels: list[str], titles: list[list[str]] | None = None,
               colors: list[list[str]] | None = None, scale: float | None = None, width: float = 7.5) -> Figure:
    """A grid of images: one row per tensor (N, 3, H, W) in [0, 1], with optional per-image titles and colours.
    The figure is `width` inches wide (the page's content column) unless `scale` (inches per image) is given, so
    that its 9-pt captions print at 9 pt instead of being shrunk with an oversized figure."""
    n = rows[0].shape[0]
    scale = scale or min(1.4, width / n)
    fig, axes = plt.subplots(len(rows), n, figsize=(scale * n, scale * 1.25 * len(rows)), squeeze=False)
    for r, images in enumerate(rows):
        for c in range(n):
            ax = axes[r, c]
            ax.imshow(np.clip(images[c].detach().float().cpu().permute(1, 2, 0).numpy(), 0, 1),
                      interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if titles:
                ax.set_title(titles[r][c], fontsize=9, color=(colors[r][c] if colors else "black"))
        axes[r, 0].set_ylabel(row_labels[r], fontsize=9)
    fig.tight_layout()
    return fig


def prediction_titles(logits: torch.Tensor, labels: torch.Tensor) -> tuple[list[str], list[str]]:
    """Per-image titles 'class p' and colours (green right, red wrong) from logits."""
    probs = logits.float().softmax(1)
    conf, pred = probs.max(1)
    titles = [f"{CLASSES[p][:5]} {c:.2f}" for p, c in zip(pred.tolist(), conf.tolist())]
    colors = ["tab:green" if p == y else "tab:red" for p, y in zip(pred.tolist(), labels.tolist())]
    return titles, colors


def accuracy_vs_eps(table: pd.DataFrame, x: str = "eps_255", y: str = "accuracy", hue: str | None = None,
                    ax: Axes | None = None, title: str = "", label: str | None = None) -> Axes:
    """Accuracy against ε (in /255 units) from a tidy table, one line per `hue` value (or one line named `label`)."""
    ax = ax or plt.subplots(figsize=(5, 3.5))[1]
    groups = [(label, table)] if hue is None else table.groupby(hue)
    for name, g in groups:
        ax.plot(g[x], g[y], marker="o", label=name)
    ax.set(xlabel="ε (× 1/255)", ylabel="accuracy", ylim=(0, 1), title=title)
    if hue is not None or label is not None:
        ax.legend()
    return ax


def attack_gallery(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, attacks: dict,
                   amplify: float = 10.0) -> Figure:
    """Rows: the clean images, then for each named attack the adversarial images and their perturbation
    (amplified by `amplify` around grey), each titled with the model's prediction and confidence."""
    rows, labels, titles, colors = [], [], [], []
    with eval_mode(model):
        with torch.no_grad():
            t, c = prediction_titles(model(x), y)
        rows.append(x), labels.append("clean"), titles.append(t), colors.append(c)
        for name, attack in attacks.items():
            x_adv = attack(model, x, y)
            with torch.no_grad():
                t, c = prediction_titles(model(x_adv), y)
            rows += [x_adv, (0.5 + amplify * (x_adv - x)).clamp(0, 1)]
            labels += [name, f"{name} δ ×{amplify:g}"]
            titles += [t, [""] * len(t)]
            colors += [c, ["black"] * len(t)]
    return image_grid(rows, labels, titles, colors)


def show_source(fn: Callable) -> Markdown:
    """Display a function's source as a code block (the formula next to its code)."""
    from IPython.display import Markdown

    return Markdown(f"```python\n{inspect.getsource(fn)}```")


def sparse_gallery(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, ks: Sequence[int], eps: float = 1.0,
                   unit: str = "feature") -> Figure:
    """Rows: clean images, then the sparse FGSM images at every k, titled with prediction and confidence."""
    with eval_mode(model):
        levels, logits = sparse_fgsm_levels(model, x, y, ks, eps, unit)
        with torch.no_grad():
            outs = [logits] + [model(level) for level in levels]
    rows = [x, *levels]
    titles, colors = zip(*(prediction_titles(o, y) for o in outs))
    return image_grid(rows, ["clean"] + [f"k = {k}" for k in ks], list(titles), list(colors))


def flip_rate_curves(sweep: pd.DataFrame) -> Figure:
    """Flip rate against k (log scale), one panel per unit, one line per ε."""
    units = list(dict.fromkeys(sweep["unit"]))
    fig, axes = plt.subplots(1, len(units), figsize=(5 * len(units), 3.6), squeeze=False, sharey=True)
    for ax, unit in zip(axes[0], units):
        for eps_255, g in sweep[sweep.unit == unit].groupby("eps_255"):
            ax.plot(g["k"], g["flip_rate"], marker="o", label=f"ε = {eps_255:.0f}/255")
        ax.set(xscale="log", xlabel="k (perturbed features)" if unit == "feature" else "k (perturbed pixels)",
               title=f"unit = {unit}", ylim=(0, 1))
        ax.set_xticks(sorted(sweep["k"].unique()), [str(k) for k in sorted(sweep["k"].unique())])
    axes[0, 0].set_ylabel("flip rate (clean-correct samples)")
    axes[0, -1].legend()
    fig.tight_layout()
    return fig


def _png(image_chw: torch.Tensor, scale: int = 4) -> bytes:
    from PIL import Image

    array = (image_chw.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).cpu().numpy()
    array = array.repeat(scale, axis=0).repeat(scale, axis=1)
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def sparse_explorer(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, ks: Sequence[int],
                    eps_values: Sequence[float], unit: str = "feature") -> widgets.VBox:
    """An ipywidgets explorer over (image, k, ε) for sparse FGSM. Every view is rendered in advance and the
    sliders switch between them with front-end links (`jslink` to `Stack.selected_index`), so it stays
    interactive in the static HTML book, with no kernel."""
    import ipywidgets as w

    levels = [0, *ks]
    k_start, eps_start = max(len(levels) - 2, 0), len(eps_values) - 1  # open on a level that shows something
    image_slider = w.IntSlider(0, 0, len(x) - 1, description="image")
    k_slider = w.SelectionSlider(options=[(str(k), i) for i, k in enumerate(levels)], value=k_start, description="k")
    eps_slider = w.SelectionSlider(options=[(f"{e * 255:.0f}/255", i) for i, e in enumerate(eps_values)],
                                   value=eps_start, description="ε")
    per_image = []
    with eval_mode(model):
        for e in eps_values:
            adv, logits = sparse_fgsm_levels(model, x, y, ks, e, unit)
            with torch.no_grad():
                probs = torch.stack([logits] + [model(a) for a in adv]).float().softmax(-1)  # (L+1, B, C)
            per_image.append((torch.cat([x[None], adv]), probs))
    image_pages = []
    for i in range(len(x)):
        eps_pages = []
        for e, (stack, probs) in enumerate(per_image):
            k_pages = []
            for j, k in enumerate(levels):
                view = torch.cat([x[i], stack[j, i], (0.5 + 5 * (stack[j, i] - x[i])).clamp(0, 1)], dim=2)
                conf, pred = probs[j, i].max(0)
                verdict = "right" if int(pred) == int(y[i]) else "WRONG"
                caption = (f"<b>k = {k}</b>, ε = {eps_values[e] * 255:.0f}/255: predicts "
                           f"<b>{CLASSES[int(pred)]}</b> ({float(conf):.2f}, {verdict}); true class "
                           f"{CLASSES[int(y[i])]}. Left: clean; middle: perturbed; right: δ ×5 around grey.")
                k_pages.append(w.VBox([w.Image(value=_png(view), format="png"), w.HTML(caption)]))
            inner = w.Stack(k_pages, selected_index=k_start)
            w.jslink((k_slider, "index"), (inner, "selected_index"))
            eps_pages.append(inner)
        middle = w.Stack(eps_pages, selected_index=eps_start)
        w.jslink((eps_slider, "index"), (middle, "selected_index"))
        image_pages.append(middle)
    outer = w.Stack(image_pages, selected_index=0)
    w.jslink((image_slider, "value"), (outer, "selected_index"))
    return w.VBox([w.HBox([image_slider, k_slider, eps_slider]), outer])


def score_histogram(scores: ArrayLike, correct: ArrayLike, name: str = "score", bins: int = 40) -> Figure:
    """Histogram of per-sample scores, split by whether the base model classifies the sample correctly."""
    scores, correct = np.asarray(scores, dtype=float), np.asarray(correct, dtype=bool)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    edges = np.histogram_bin_edges(scores, bins=bins)
    ax.hist(scores[correct], bins=edges, alpha=0.7, label=f"clean-correct ({correct.sum():,})")
    ax.hist(scores[~correct], bins=edges, alpha=0.7, label=f"misclassified ({(~correct).sum():,})")
    ax.set(xlabel=name, ylabel="samples", yscale="log", title=f"distribution of {name} over the pool")
    ax.legend()
    return fig


def ranked_gallery(pool: Pool, scores: pd.Series, n: int = 10, name: str = "score") -> Figure:
    """The n highest- and n lowest-scored samples of the pool (scores: a Series by dataset index)."""
    s = align_scores(scores, pool)
    order = torch.argsort(s, descending=True)
    picks = {"highest": order[:n], "lowest": order[-n:].flip(0)}
    rows, labels, titles = [], [], []
    for label, pos in picks.items():
        pos = pos.to(pool.device)
        rows.append(pool.float_images(pos))
        labels.append(f"{label} {name}")
        titles.append([f"{CLASSES[int(c)][:5]} {float(v):.2f}" for c, v in zip(pool.labels[pos], s[pos.cpu()])])
    return image_grid(rows, labels, titles)


def top_bottom_vs_paper(results: pd.DataFrame, method: str, paper: pd.DataFrame, setting: str = "") -> Figure:
    """Left: our accuracy against coreset fraction (mean ± std over seeds) for the top, bottom and random
    coresets of `method`; right: the paper's numbers for the same method, clearly labelled as the paper's."""
    fig, (ours_ax, paper_ax) = plt.subplots(1, 2, figsize=(11, 3.8))
    styles = {"top": ("tab:red", "o"), "bottom": ("tab:blue", "s"), "random": ("gray", "^")}
    ours = results[results.method.isin([method, "random"])]
    for keep, g in ours.groupby("keep"):
        stats = g.groupby("fraction")["test_acc"].agg(["mean", "std"]).fillna(0)
        color, marker = styles.get(keep, ("black", "x"))
        ours_ax.errorbar(100 * stats.index, stats["mean"], yerr=stats["std"], color=color, marker=marker,
                         capsize=3, label=keep)
    ours_ax.set(xscale="log", xlabel="coreset size (% of the pool)", ylabel="test accuracy",
                title=f"ours: {method} ({len(ours.seed.unique())} seeds, mean ± std)")
    theirs = paper[paper.method.isin([method, "random"])]
    for keep, g in theirs.assign(keep=np.where(theirs.method == "random", "random", theirs.keep)).groupby("keep"):
        color, marker = styles.get(keep, ("black", "x"))
        paper_ax.plot(100 * g["fraction"], g["accuracy"], color=color, marker=marker, label=keep)
    paper_ax.set(xscale="log", xlabel="coreset size (% of the data)", ylabel="test accuracy",
                 title="the paper's numbers (not ours)")
    for ax in (ours_ax, paper_ax):
        ax.legend()
        ax.set_ylim(0, 1)
    if setting:
        fig.text(0.5, -0.02, f"right: {setting}", ha="center", fontsize=8)
    fig.tight_layout()
    return fig


def coreset_curves(results: pd.DataFrame, value: str = "test_acc", panel: str = "objective", hue: str = "method",
                   title: str = "") -> Figure:
    """Mean ± std over seeds of `value` against coreset fraction, one line per `hue`, one panel per `panel`."""
    panels = list(dict.fromkeys(results[panel])) if panel else [None]
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 3.6), squeeze=False, sharey=True)
    for ax, p in zip(axes[0], panels):
        sub = results if p is None else results[results[panel] == p]
        for name, g in sub.groupby(hue, sort=False):
            stats = g.groupby("fraction")[value].agg(["mean", "std"]).fillna(0)
            ax.errorbar(100 * stats.index, stats["mean"], yerr=stats["std"], marker="o", capsize=3, label=name)
        ax.set(xlabel="coreset size (% of the pool)", title=f"{panel} = {p}" if p is not None else title)
        ax.legend()
    axes[0, 0].set_ylabel(value.replace("_", " "))
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def per_class_extremes(pool: Pool, scores: pd.Series, name: str = "score") -> Figure:
    """For every class, the sample with the lowest and the highest score (two rows, ten columns)."""
    s = align_scores(scores, pool)
    lows, highs = [], []
    for c in range(pool.num_classes):
        members = torch.nonzero(pool.labels.cpu() == c).flatten()
        lows.append(members[s[members].argmin()])
        highs.append(members[s[members].argmax()])
    rows, titles = [], []
    for picks in (lows, highs):
        pos = torch.stack(picks).to(pool.device)
        rows.append(pool.float_images(pos))
        titles.append([f"{CLASSES[int(c)][:5]} {float(v):.2g}" for c, v in zip(pool.labels[pos], s[pos.cpu()])])
    return image_grid(rows, [f"lowest {name}", f"highest {name}"], titles)


def theorem_bound(summary: pd.DataFrame, traces: pd.DataFrame) -> Figure:
    """Left: Theorem 1's bound and the observed suboptimality against the horizon T, per method (log-log).
    Right: Γₜ along the longest run of every method."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
    for i, (method, rows) in enumerate(summary.groupby("method", sort=False)):
        color = f"C{i}"
        left.plot(rows["T"], rows["bound"], "-", color=color, label=f"{method}: bound")
        left.plot(rows["T"], rows["observed"].clip(lower=1e-6), "o--", color=color, label=f"{method}: observed")
    left.set(xscale="log", yscale="log", xlabel="horizon T (steps)", ylabel="min_t L(θ_t) − L(θ*)",
             title="Theorem 1: bound vs observed")
    horizons = sorted(summary["T"].unique())
    left.set_xticks(horizons, [str(h) for h in horizons])
    left.xaxis.set_minor_locator(plt.NullLocator())
    left.legend(fontsize=7, ncol=2)
    longest = traces[traces["T"] == traces["T"].max()]
    for i, (method, rows) in enumerate(longest.groupby("method", sort=False)):
        right.plot(rows["t"], rows["gamma"], color=f"C{i}", label=method, lw=1)
    right.set(xlabel="step t", ylabel="Γ_t", title=f"gradient approximation error (T = {int(longest['T'].max())})")
    right.legend(fontsize=8)
    fig.tight_layout()
    return fig


def gamma_traces(table: pd.DataFrame) -> Figure:
    """Γ at each renewal epoch of CNN coreset training, per method: the fresh coreset (solid), a random subset of
    the same size on the same gradients (dotted) and the previous coreset at the new parameters (dashed)."""
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    for i, (method, rows) in enumerate(table.groupby("method", sort=False)):
        ax.plot(rows["epoch"], rows["gamma"], "o-", color=f"C{i}", label=f"{method}")
        ax.plot(rows["epoch"], rows["gamma_stale"], "x--", color=f"C{i}", alpha=0.7)
    rand = table.groupby("epoch")["gamma_random"].mean()
    ax.plot(rand.index, rand.to_numpy(), ":", color="gray", label="random reference (same gradients)")
    ax.set(xlabel="epoch", ylabel="Γ (last-layer gradients)", yscale="log",
           title="Γ of the new coreset (o) and of the previous one (x)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def highlight_best(table: pd.DataFrame, best: pd.DataFrame) -> Styler:
    """A pandas Styler of a methods × fractions text table with the cells in `best` (same shape, booleans) bold on
    a light background (the book passes `experiments.best_three`: among the three best of the column and clearly above
    random by the paired interval)."""
    def style(column):
        return ["font-weight: bold; background-color: #d8ecd8" if best.loc[i, column.name] else "" for i in column.index]
    return table.style.apply(style, axis=0).format_index(lambda f: f"{100 * f:g} %", axis=1)


def fgsm_heatmap(curves: pd.DataFrame, fractions: Sequence[float], title: str = "FGSM accuracy (%)") -> Figure:
    """FGSM accuracy of every method at every ε as a heat map, one panel per fraction: rows are methods (the same
    order in every panel: by mean accuracy over all ε and fractions, best first), columns ε levels, each cell
    annotated in %. A page can hold it where one line per method cannot (26 lines)."""
    mean = curves.groupby(["fraction", "method", "eps_255"])["accuracy"].mean().mul(100)
    order = mean.groupby("method").mean().sort_values(ascending=False).index.tolist()
    eps = sorted(curves["eps_255"].unique())
    fig, axes = plt.subplots(1, len(fractions), figsize=(1.0 + 0.9 * len(eps) * len(fractions) + 1.5,
                                                         1.2 + 0.28 * len(order)), squeeze=False, sharey=True)
    for ax, fraction in zip(axes[0], fractions):
        grid = (mean.xs(fraction, level="fraction").unstack("eps_255").reindex(index=order, columns=eps)
                if fraction in mean.index.get_level_values("fraction") else
                pd.DataFrame(index=order, columns=eps, dtype=float))
        image = ax.imshow(grid.to_numpy(dtype=float), aspect="auto", cmap="viridis", vmin=0, vmax=100)
        for (i, j), v in np.ndenumerate(grid.to_numpy(dtype=float)):
            if v == v:
                ax.text(j, i, f"{v:.0f}", ha="center", va="center", fontsize=9,
                        color="white" if v < 50 else "black")
        ax.set_xticks(range(len(eps)), [f"{e:g}" for e in eps], fontsize=9)
        ax.set_yticks(range(len(order)), order, fontsize=9)
        ax.set(xlabel="ε (× 1/255)", title=f"coreset {100 * fraction:g} %")
    fig.suptitle(title, fontsize=11)
    fig.colorbar(image, ax=axes[0].tolist(), fraction=0.04, pad=0.02, label="accuracy (%)")
    return fig


def fgsm_curves_by_method(curves: pd.DataFrame, fractions: Sequence[float], title: str = "FGSM accuracy") -> Figure:
    """Accuracy against FGSM ε for every method, one panel per fraction (the CoreAdv robustness figure)."""
    fig, axes = plt.subplots(1, len(fractions), figsize=(5.5 * len(fractions), 4), squeeze=False, sharey=True)
    methods = sorted(curves["method"].unique())
    for ax, fraction in zip(axes[0], fractions):
        rows = curves[curves.fraction == fraction]
        for i, method in enumerate(methods):
            m = rows[rows.method == method].groupby("eps_255")["accuracy"].mean()
            ax.plot(m.index, m.to_numpy(), marker="o", ms=3, lw=1, color=plt.cm.tab20(i % 20),
                    ls="-" if i < 20 else "--", label=method)
        ax.set(xlabel="ε (× 1/255)", title=f"{title}, coreset {100 * fraction:g} %")
    axes[0][0].set_ylabel("accuracy")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.tight_layout(rect=(0, 0, 0.8, 1))
    fig.legend(handles, labels, fontsize=7, loc="center left", bbox_to_anchor=(0.8, 0.5))
    return fig


def selection_cost_bars(cost: pd.DataFrame) -> Figure:
    """Selection seconds and forward / backward passes over the pool per method (horizontal bars)."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 0.28 * len(cost) + 1.2), sharey=True)
    y = np.arange(len(cost))
    left.barh(y, cost["select_seconds"], color="C0")
    left.set(yticks=y, yticklabels=cost.index, xlabel="seconds", title="selection wall time (proxy excluded)")
    right.barh(y - 0.2, cost["forward_passes"], height=0.4, label="forward", color="C1")
    right.barh(y + 0.2, cost["backward_passes"], height=0.4, label="backward", color="C2")
    right.set(xlabel="passes over the pool", title="model evaluations per sample")
    right.legend(fontsize=8)
    fig.tight_layout()
    return fig


def forest(ranked: pd.DataFrame, title: str = "", control: str = "random") -> Figure:
    """A forest plot of a `ranking` table: per fraction (one panel each), every method's difference to `control`
    paired by seed, in points (%), with its 95 % interval, sorted, zero marked; green where the interval lies above
    0, red where below, grey where it contains 0 (no ranking)."""
    rows = ranked[(ranked["method"] != control) & ranked["diff"].notna()]
    fractions = sorted(rows["fraction"].unique())
    height = 0.22 * max((rows["fraction"] == f).sum() for f in fractions) + 1.2 if fractions else 2
    fig, axes = plt.subplots(1, max(len(fractions), 1), figsize=(3.6 * max(len(fractions), 1), height), squeeze=False)
    colours = {"higher": "C2", "lower": "C3"}
    for ax, fraction in zip(axes[0], fractions):
        part = rows[rows["fraction"] == fraction].sort_values("diff")
        y = np.arange(len(part))
        for yi, (_, r) in zip(y, part.iterrows()):
            colour = colours.get(r["verdict"], "0.55")
            ax.plot([100 * r["low"], 100 * r["high"]], [yi, yi], color=colour, lw=1.6)
            ax.plot(100 * r["diff"], yi, "o", color=colour, ms=4)
        ax.axvline(0, color="black", lw=0.8)
        ax.set(yticks=y, yticklabels=part["method"], xlabel=f"points vs {control}", title=f"{100 * fraction:g} %")
        ax.tick_params(axis="y", labelsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def table(df: pd.DataFrame, percent: Sequence[str] = (), fraction: Sequence[str] = ("fraction",), digits: int = 1,
          drop: Sequence[str] = ()) -> Styler:
    """A results table as the page shows it: no index column, accuracy-like columns (`percent`, values in [0, 1])
    in % with `digits` decimals and "(%)" in their names, `fraction` columns as "10 %", other floats to 3
    significant digits, and the columns in `drop` left out (e.g. a configuration hash)."""
    out = df.drop(columns=[c for c in drop if c in df.columns]).copy()
    names = {}
    for c in out.columns:
        if c in fraction:
            out[c] = out[c].map(lambda f: f"{100 * f:g} %" if isinstance(f, (int, float, np.floating)) else f)
        elif c in percent:
            out[c] = 100 * out[c].astype(float)
            names[c] = f"{c} (%)"
    out = out.rename(columns=names)
    formats = {}
    for c in out.columns:
        if c in names.values():
            formats[c] = f"{{:.{digits}f}}"
        elif pd.api.types.is_float_dtype(out[c]):
            formats[c] = "{:.3g}"
    return out.style.hide(axis="index").format(formats, na_rep="–")


__all__ = ["accuracy_vs_eps", "attack_gallery", "coreset_curves", "fgsm_curves_by_method", "fgsm_heatmap",
           "flip_rate_curves", "forest", "gamma_traces", "highlight_best", "image_grid", "learning_curves", "per_class_extremes",
           "prediction_titles", "ranked_gallery", "score_histogram", "selection_cost_bars", "show_source",
           "sparse_explorer", "sparse_gallery", "table", "theorem_bound", "top_bottom_vs_paper"]
