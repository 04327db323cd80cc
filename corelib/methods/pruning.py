"""The data-pruning methods current pruning benchmarks compare against, beyond DeepCore: EL2N (Paul, Ganguli &
Dziugaite 2021), AUM (Pleiss et al. 2020), dynamic uncertainty (He et al. 2024) and coverage-centric coreset
selection, CCS (Zheng et al. 2023). Each is its paper's definition, read from the proxy: its training run (AUM and
dynamic uncertainty, recorded while it trained, so free) or its predictions (EL2N, over the proxies GraNd also
averages)."""
from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch

from ..checks import check_integer, check_number
from ..sampling import coreset_size
from .proxy import class_by_class, embeddings_and_probabilities, pool_scores, ranked, shared
from .registry import register
from .training_dynamics import GRAND_REPEATS

if TYPE_CHECKING:
    from .proxy import MethodResult, Passes, Proxy

DYN_UNC_WINDOW = 10  # J, the window of epochs of He et al. (their code: J = 10)
CCS_STRATA = 50  # k, the strata of Zheng et al.'s code and experiments
CCS_HARD_CUTOFF = ((0.5, 0.0), (0.8, 0.1), (1.0, 0.3))  # CIFAR-10: pruning rate ≤ 50 % → β 0, ≤ 80 % → 10 %, else 30 %


def aum_scores(per_sample: pd.DataFrame) -> pd.Series:
    """AUM (Pleiss et al. 2020, Eq. 2): per sample, the margin z_y − max_{k≠y} z_k of the logits the proxy trained
    on, averaged over its epochs (`per_sample`: epoch, index, margin). Low: hard or likely mislabeled."""
    return per_sample.groupby("index")["margin"].mean().astype(float).rename("aum")


def dynamic_uncertainty(per_sample: pd.DataFrame, window: int = DYN_UNC_WINDOW) -> pd.Series:
    """Dynamic uncertainty (He et al. 2024, Eqs. 1–2): per sample, the standard deviation (over J = `window`
    consecutive epochs) of the probability of its true class, averaged over the T − J + 1 windows of the proxy's T
    epochs (`per_sample`: epoch, index, true_prob). High: the prediction keeps changing."""
    window = check_integer("window", window, minimum=1, hint="dynamic uncertainty's window of epochs, J ≥ 1")
    wide = per_sample.pivot(index="index", columns="epoch", values="true_prob").sort_index(axis=1)
    epochs = wide.shape[1]
    if epochs < window:
        raise ValueError(f"dynamic uncertainty needs at least window={window} epochs of the proxy's training, which "
                         f"has {epochs}; use window ≤ {epochs} (or train the proxy longer: selection_epochs)")
    values = wide.to_numpy(dtype="float64")
    stds = np.lib.stride_tricks.sliding_window_view(values, window, axis=1).std(axis=2)  # population std, as He et al.
    return pd.Series(stds.mean(axis=1), index=wide.index, name="dyn_unc")


def ccs_budgets(sizes: np.ndarray, k: int) -> np.ndarray:
    """CCS's budget per stratum (Zheng et al. 2023, Algorithm 1): strata from the smallest up, each takes
    min(its size, what is left ÷ the strata left); what rounding leaves goes one by one to the largest strata that
    still have room. Returns how many to take from each stratum (sums to min(k, sizes.sum()))."""
    budgets = np.zeros(len(sizes), dtype=np.int64)
    left, order = int(k), np.argsort(sizes, kind="stable")
    remaining = int((sizes > 0).sum())
    for i in order:
        if sizes[i] == 0:
            continue
        budgets[i] = min(int(sizes[i]), left // remaining)
        left -= int(budgets[i])
        remaining -= 1
    for i in order[::-1]:  # the remainder of the integer division
        if left == 0:
            break
        if budgets[i] < sizes[i]:
            budgets[i] += 1
            left -= 1
    return budgets


def ccs_choose(scores: torch.Tensor, k: int, beta: float, strata: int,
               generator: torch.Generator) -> torch.Tensor:
    """Coverage-centric selection of `k` of the samples with difficulty `scores` (low: hard, as AUM): drop the
    hardest round(β·n) (never so many that fewer than k are left), split the rest into `strata` intervals of equal
    width between their smallest and largest score, budget the strata (`ccs_budgets`) and draw each stratum's
    budget uniformly (by `generator`). Returns positions into `scores`."""
    n = len(scores)
    cut = min(round(beta * n), n - k)
    order = torch.argsort(scores.double(), stable=True)
    kept = order[cut:]
    values = scores.double()[kept]
    low, high = float(values.min()), float(values.max())
    width = (high - low) / strata if high > low else 1.0
    bins = ((values - low) / width).floor().clamp(max=strata - 1).long()
    budgets = ccs_budgets(torch.bincount(bins, minlength=strata).numpy(), k)
    chosen = []
    for b in range(strata):
        if budgets[b]:
            members = kept[bins == b]
            chosen.append(members[torch.randperm(len(members), generator=generator)[:int(budgets[b])]])
    return torch.cat(chosen).sort().values


def ccs_hard_cutoff(fraction: float) -> float:
    """β, the share of the hardest samples CCS drops first, as Zheng et al. set it for CIFAR-10 by pruning rate
    (1 − fraction): 0 up to 50 %, 10 % up to 80 %, 30 % beyond (their largest rate is 90 %; beyond it we keep 30 %)."""
    pruning = 1 - fraction
    return next(beta for rate, beta in CCS_HARD_CUTOFF if pruning <= rate + 1e-12)


def el2n_scores(proxy: Proxy, passes: Passes, repeats: int) -> torch.Tensor:
    """EL2N (Paul, Ganguli & Dziugaite 2021, Eq. 3): E‖softmax(f(x)) − onehot(y)‖₂ over `repeats` proxies (this
    one and the siblings GraNd trains, from seeds proxy-seed + 1000·r; cached, so one training serves both), each
    read once on the clean pool in eval mode. Sibling training is charged as GraNd charges it."""
    def compute(own):
        labels = torch.nn.functional.one_hot(proxy.pool.labels.cpu(), proxy.pool.num_classes).double()
        total = (embeddings_and_probabilities(proxy, own)[1].cpu().double() - labels).norm(dim=1)
        for r in range(1, int(repeats)):
            start = time.perf_counter()
            sibling = proxy.sibling(proxy.seed + 1000 * r)
            own.reused_seconds += max(0.0, sibling.seconds - (time.perf_counter() - start))
            own.forward += sibling.passes.forward
            own.backward += sibling.passes.backward
            total += (embeddings_and_probabilities(sibling, own)[1].cpu().double() - labels).norm(dim=1)
        return total / int(repeats)

    return shared(proxy, passes, ("el2n", int(repeats)), compute)


@register("el2n", family="error / gradient", keeps="top", reads="predictions of several proxies",
          description="the largest error vector ‖p − y‖₂, averaged over independently initialised proxies",
          paper="Paul, Ganguli & Dziugaite 2021 (EL2N)")
def el2n(proxy: Proxy, fraction: float, seed: int, passes: Passes, class_balanced: bool,
         repeats: int = GRAND_REPEATS) -> MethodResult:
    """EL2N: keep the highest `el2n_scores` (the paper prunes the easy, low-EL2N samples). The paper scores at epoch
    20 of 200 and averages 10 initialisations; here the proxies' last epoch (`selection_epochs`) and `repeats`
    (the benchmark passes GraNd's `grand_repeats`, so both read the same proxies)."""
    repeats = check_integer("repeats", repeats, minimum=1, hint="EL2N averages this many proxies; the paper 10")
    scores = el2n_scores(proxy, passes, repeats)
    return ranked(proxy, pool_scores(proxy, scores), fraction, seed, "top", class_balanced, "el2n")


@register("aum", family="training dynamics", keeps="bottom", reads="logit margins while the proxy trained",
          description="the smallest area under the margin (the hard end, likely mislabeled first)",
          paper="Pleiss et al. 2020 (AUM)")
def aum(proxy: Proxy, fraction: float, seed: int, passes: Passes, class_balanced: bool) -> MethodResult:
    """AUM as a pruning baseline: keep the lowest `aum_scores`, the hard end, as pruning benchmarks run it (CCS's
    tables); Pleiss et al. use the same order to flag mislabeled samples. Recorded free while the proxy trained."""
    return ranked(proxy, aum_scores(proxy.per_sample), fraction, seed, "bottom", class_balanced, "aum")


@register("dyn_unc", family="training dynamics", keeps="top", reads="true-class probability while the proxy trained",
          description="the most unstable true-class probability over windows of epochs",
          paper="He et al. 2024 (dynamic uncertainty)")
def dyn_unc(proxy: Proxy, fraction: float, seed: int, passes: Passes, class_balanced: bool,
            window: int | None = None) -> MethodResult:
    """Dynamic uncertainty: keep the highest `dynamic_uncertainty`. The paper's window is J = 10 epochs of a
    200-epoch run; a proxy trains `selection_epochs`, so the default (None) is min(10, the proxy's epochs). A
    one-epoch proxy has no dynamics: every score is 0 and the class-balanced tie-break by the seed decides."""
    window = min(DYN_UNC_WINDOW, proxy.epochs) if window is None else window
    scores = dynamic_uncertainty(proxy.per_sample, window)
    return ranked(proxy, scores, fraction, seed, "top", class_balanced, "dyn_unc")


@register("ccs", family="coverage", keeps="cover", reads="logit margins while the proxy trained (AUM)",
          description="drop the hardest β, then sample evenly across strata of difficulty",
          paper="Zheng et al. 2023 (CCS)")
def ccs(proxy: Proxy, fraction: float, seed: int, passes: Passes, class_balanced: bool,
        beta: float | None = None, strata: int = CCS_STRATA) -> MethodResult:
    """Coverage-centric coreset selection with AUM as the difficulty score (the paper's CIFAR-10 setting), class by
    class (`ccs_choose`). `beta`: the hardest share dropped first; None takes the paper's CIFAR-10 value for this
    pruning rate (`ccs_hard_cutoff`). `strata`: 50, the paper's k. Zheng et al. stratify the whole dataset; here
    each class is stratified on its own, the book's class-balance rule."""
    beta = ccs_hard_cutoff(fraction) if beta is None else check_number("beta", beta, low=0, high=1, high_open=True,
                                                                       hint="the hardest share dropped, in [0, 1)")
    strata = check_integer("strata", strata, minimum=1, hint="CCS's strata of equal score width, the paper's 50")
    difficulty = torch.tensor(aum_scores(proxy.per_sample).reindex(proxy.pool.indices.cpu().numpy()).to_numpy())

    def choose(members, k, generator):
        return ccs_choose(difficulty[members], k, beta, strata, generator), None

    if not class_balanced:
        generator = torch.Generator().manual_seed(int(seed))
        positions = ccs_choose(difficulty, coreset_size(len(difficulty), fraction), beta, strata, generator)
        return proxy.pool.indices.cpu()[positions], None, None
    return class_by_class(proxy, fraction, seed, choose)


__all__ = ["aum", "aum_scores", "ccs", "ccs_budgets", "ccs_choose", "ccs_hard_cutoff", "CCS_HARD_CUTOFF", "CCS_STRATA",
           "dyn_unc", "DYN_UNC_WINDOW", "dynamic_uncertainty", "el2n", "el2n_scores"]
