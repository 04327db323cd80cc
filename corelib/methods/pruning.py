"""The data-pruning methods current pruning benchmarks compare against, beyond DeepCore: EL2N (Paul, Ganguli &
Dziugaite 2021), AUM (Pleiss et al. 2020), dynamic uncertainty (He et al. 2024), TDDS (Zhang et al. 2024),
coverage-centric coreset selection, CCS (Zheng et al. 2023), and D2 pruning (Maharana, Yadav & Bansal 2024). Each is
its paper's definition, read from the proxy: its training run (AUM, dynamic uncertainty, TDDS and CCS, recorded while
it trained, so free), its predictions (EL2N, over the proxies GraNd also averages) or its embeddings (D2)."""
from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch

from ..checks import check_integer, check_number
from ..sampling import coreset_size
from ..train import RecordPerSample, fit
from .proxy import (Passes, Proxy, charged, class_by_class, embeddings_and_probabilities, pool_scores, ranked,
                    require_class_balance, shared)
from .registry import ADVERSARIAL_ONLY, deviates, register
from .training_dynamics import GRAND_REPEATS, forgetting_events

if TYPE_CHECKING:
    from .proxy import MethodResult

TDDS_TRAJECTORY, TDDS_WINDOW, TDDS_DECAY = 30, 10, 0.9  # T, K and β of the authors' published command
D2_NEIGHBOURS, D2_GAMMA = 5, 0.1  # k and γ of D2's published CIFAR-10 command
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


def tdds_scores(per_sample: pd.DataFrame, trajectory: int = TDDS_TRAJECTORY, window: int = TDDS_WINDOW,
                decay: float = TDDS_DECAY) -> pd.Series:
    """TDDS (Zhang et al. 2024, as the authors' code computes it): over the first T = `trajectory` epochs, each
    sample's per-epoch contribution c_t (`transition`: Σ_c |p_t,c (log p_t,c − log p_t−1,c)|, recorded while the
    proxy trained); in each window of K = `window` epochs (K − 1 contributions) the L2 norm of the contributions'
    deviations from their mean (the second depth: variability); windows k = 0 … T − K weighted by
    β(1 − β)^(T − K − k) and summed (β = `decay`). High: contributes unevenly, kept."""
    if "transition" not in per_sample:  # a one-epoch run has no epoch-to-epoch contribution: every score is 0
        return pd.Series(0.0, index=np.sort(per_sample["index"].unique()), name="tdds")
    wide = per_sample.dropna(subset=["transition"]).pivot(index="index", columns="epoch", values="transition")
    wide = wide.sort_index(axis=1).iloc[:, :max(int(trajectory) - 1, 0)]
    contributions = wide.to_numpy(dtype="float64")  # (n, T − 1): epochs 1 … T − 1 against their predecessors
    steps = min(int(window), contributions.shape[1] + 1) - 1  # K − 1 contributions per window
    total = np.zeros(len(wide))
    if steps >= 1:
        windows = np.lib.stride_tricks.sliding_window_view(contributions, steps, axis=1)  # (n, W, K − 1)
        spread = np.linalg.norm(windows - windows.mean(axis=2, keepdims=True), axis=2)
        last = windows.shape[1] - 1
        weights = decay * (1 - decay) ** (last - np.arange(windows.shape[1]))
        total = (spread * weights).sum(axis=1)
    index = wide.index if len(wide) else per_sample["index"].unique()
    return pd.Series(total if len(wide) else 0.0, index=index, name="tdds")


def d2_scores(features: torch.Tensor, difficulty: torch.Tensor, neighbours: int = D2_NEIGHBOURS) -> tuple:
    """D2 pruning's forward message passing (Maharana, Yadav & Bansal 2024, Eq. 3 with the authors' sum mode):
    a k-nearest-neighbour graph on `features` (Euclidean, made symmetric), and each node's score
    s'_i = s_i + Σ_{j ∈ N(i)} exp(−d(i, j)) s_j. Returns (s', the neighbour mask, the distances)."""
    distances = torch.cdist(features.double(), features.double())
    k = min(int(neighbours), len(features) - 1)
    near = torch.zeros_like(distances, dtype=torch.bool)
    if k > 0:
        nearest = distances.masked_fill(torch.eye(len(features), dtype=torch.bool), float("inf")).topk(
            k, largest=False).indices
        near.scatter_(1, nearest, True)
        near |= near.T.clone()
    s = difficulty.double().clamp_min(1e-7)  # the authors' floor on a score
    return s + (torch.exp(-distances) * near * s[None, :]).sum(1), near, distances


def d2_choose(scores: torch.Tensor, near: torch.Tensor, distances: torch.Tensor, k: int,
              gamma: float = D2_GAMMA) -> torch.Tensor:
    """D2 pruning's selection with reverse message passing: take the node of highest score, lower each neighbour's
    score by exp(−γ·d(i, j))·s_i (γ = `gamma`), and repeat k times. Returns positions in selection order."""
    s = scores.clone()
    taken = torch.zeros(len(s), dtype=torch.bool)
    chosen = []
    for _ in range(int(k)):
        i = int(torch.argmax(s.masked_fill(taken, float("-inf"))))
        chosen.append(i)
        taken[i] = True
        s = s - near[i] * torch.exp(-gamma * distances[i]) * s[i]
    return torch.tensor(chosen, dtype=torch.long)


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
            sibling = charged(own, lambda r=r: proxy.sibling(proxy.seed + 1000 * r))
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


def adversarial_proxy(proxy: Proxy, objective: str, objective_params: dict) -> Proxy:
    """A proxy trained like `proxy` (same model, pool, epochs, SGD settings and seed) but adversarially, with
    `objective` ('pgd' or 'fgsm_rs'), its per-sample record read at the adversarial examples it trained on (cached
    like every proxy). Its passes count each attack step as a forward and a backward pass."""
    if objective not in ("pgd", "fgsm_rs"):
        raise ValueError(f"objective={objective!r}: dynamic uncertainty under adversarial training reads the "
                         "predictions at the adversarial examples, which the trainer records for 'pgd' and 'fgsm_rs' "
                         "(under TRADES it records the clean ones); use one of those")
    if not proxy.training:
        raise ValueError("this proxy was not made by train_proxy, so it cannot train an adversarial twin; build it "
                         "with corelib.methods.train_proxy")
    t = proxy.training
    config = replace(t["config"], objective=objective, objective_params=dict(objective_params), seed=proxy.seed,
                     progress=False)
    result = fit(t["model_name"], proxy.pool, config, cache=t["cache"], recorders={"per_sample": RecordPerSample()})
    steps = 1 if objective == "fgsm_rs" else int(objective_params.get("steps", 10))
    n = len(proxy.pool) * proxy.epochs * (steps + 1)
    return Proxy(result.model.eval(), proxy.pool, result.tables["per_sample"], pd.Series(dtype=float),
                 result.seconds, proxy.epochs, Passes(n, n), seed=proxy.seed)


@register("dyn_unc_adv", family="training dynamics", keeps="top",
          reads="true-class probability at adversarial examples while an adversarial proxy trained",
          description="dynamic uncertainty of an adversarially trained proxy's adversarial predictions",
          paper="He et al. 2024, under adversarial training as Li et al. 2023 prune for it")
def dyn_unc_adv(proxy: Proxy, fraction: float, seed: int, passes: Passes, class_balanced: bool,
                objective: str | None = None, objective_params: dict | None = None,
                window: int | None = None) -> MethodResult:
    """Dynamic uncertainty read from the adversarial predictions of a proxy trained adversarially (the data-pruning-
    for-adversarial-training line of work, e.g. Li et al. 2023): `dynamic_uncertainty` of its recorded true-class
    probabilities at the adversarial examples. `objective` / `objective_params`: the attack it trains with (the
    adversarial track passes its own); its training is charged to the selection. Adversarial track only."""
    if objective is None:
        raise ValueError("dyn_unc_adv trains an adversarial proxy: give objective='pgd' or 'fgsm_rs' (and "
                         "objective_params); the benchmark's adversarial track passes its own")

    def compute(own):
        return charged(own, lambda: adversarial_proxy(proxy, objective, objective_params or {}))

    twin = shared(proxy, passes, ("adversarial_proxy", objective, repr(sorted((objective_params or {}).items()))),
                  compute)
    window = min(DYN_UNC_WINDOW, twin.epochs) if window is None else window
    return ranked(proxy, dynamic_uncertainty(twin.per_sample, window), fraction, seed, "top", class_balanced,
                  "dyn_unc_adv")


ADVERSARIAL_ONLY.add("dyn_unc_adv")


@register("tdds", family="training dynamics", keeps="top", reads="predictions while the proxy trained",
          description="the most uneven epoch-to-epoch contributions over windows of training",
          paper="Zhang et al. 2024 (TDDS)")
def tdds(proxy: Proxy, fraction: float, seed: int, passes: Passes, class_balanced: bool,
         window: int | None = None, decay: float = TDDS_DECAY) -> MethodResult:
    """TDDS: keep the highest `tdds_scores`, recorded free while the proxy trained. The authors' published command
    reads T = 30 epochs in windows of K = 10 with β = 0.9; a proxy trains `selection_epochs`, so T is its epochs and
    the default window (None) min(10, T). The authors' code also hands each kept sample its normalised score with
    its label; corelib trains the coreset like every other, unweighted."""
    window = min(TDDS_WINDOW, proxy.epochs) if window is None else check_integer(
        "window", window, minimum=2, hint="TDDS's window of epochs, K ≥ 2 (K − 1 contributions)")
    check_number("decay", decay, low=0, high=1, hint="TDDS's β, the weight of the latest window, in [0, 1]")
    scores = tdds_scores(proxy.per_sample, min(TDDS_TRAJECTORY, proxy.epochs), window, decay)
    return ranked(proxy, scores, fraction, seed, "top", class_balanced, "tdds")


@register("d2", family="coverage", keeps="cover", reads="embeddings, forgetting events",
          description="message passing on a k-nearest-neighbour graph balances difficulty and diversity",
          paper="Maharana, Yadav & Bansal 2024 (D2 pruning)")
def d2(proxy: Proxy, fraction: float, seed: int, passes: Passes, class_balanced: bool,
       neighbours: int = D2_NEIGHBOURS, gamma: float = D2_GAMMA) -> MethodResult:
    """D2 pruning, class by class: forgetting events (the authors' CIFAR-10 difficulty score, DeepCore's count) as
    node scores on a `neighbours`-nearest-neighbour graph of the proxy's embeddings, forward message passing
    (`d2_scores`), then greedy selection with reverse message passing of weight exp(−γ·d) (`d2_choose`); k = 5 and
    γ = 0.1 as the authors' CIFAR-10 command. Their CIFAR scripts also drop a hard share and stratify first (CCS's
    steps); that is CCS's method, not D2's, and is not repeated here."""
    require_class_balance("d2", class_balanced)
    neighbours = check_integer("neighbours", neighbours, minimum=1, hint="D2's k nearest neighbours, 5 in the paper")
    check_number("gamma", gamma, low=0, hint="D2's reverse message-passing decay γ, 0.1 in the paper")
    feats, _ = embeddings_and_probabilities(proxy, passes)
    events = forgetting_events(proxy.per_sample).reindex(proxy.pool.indices.cpu().numpy()).fillna(0.0)
    difficulty = torch.tensor(events.to_numpy())

    def choose(members, k, generator):
        scores, near, distances = d2_scores(feats[members].cpu(), difficulty[members], neighbours)
        return d2_choose(scores, near, distances, k, gamma), None

    return class_by_class(proxy, fraction, seed, choose)


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


AUTHORS = "the authors' code"
deviates("el2n", "when and over how many models", "the proxies' last epoch (`selection_epochs`), `grand_repeats` proxies",
         "epoch 20 of 200, 10 models", "the benchmark's proxies are short and shared with GraNd", reference_code=AUTHORS)
deviates("dyn_unc", "window", "J = min(10, the proxy's epochs)", "J = 10 of 200 epochs",
         "a proxy trains a few epochs", reference_code=AUTHORS)
deviates("tdds", "trajectory and window", "T = the proxy's epochs, K = min(10, T)", "T = 30, K = 10",
         "a proxy trains a few epochs", reference_code=AUTHORS)
deviates("tdds", "training on the coreset", "unweighted, like every coreset", "each sample weighted by its "
         "normalised score", "the benchmark trains every selection the same way", reference_code=AUTHORS)
deviates("ccs", "strata", "each class stratified on its own", "the whole dataset stratified at once",
         "the book's class-balance rule", reference_code=AUTHORS)
deviates("d2", "before the graph", "the graph sampling alone, per class",
         "CCS's hard cut and strata first, graph sampling within each stratum", "those steps are CCS's method, "
         "which runs as its own row", reference_code=AUTHORS)


__all__ = ["aum", "aum_scores", "ccs", "ccs_budgets", "ccs_choose", "ccs_hard_cutoff", "CCS_HARD_CUTOFF", "CCS_STRATA",
           "adversarial_proxy", "d2", "d2_choose", "D2_GAMMA", "D2_NEIGHBOURS", "d2_scores", "dyn_unc", "DYN_UNC_WINDOW",
           "dynamic_uncertainty", "dyn_unc_adv", "el2n", "el2n_scores", "tdds", "TDDS_DECAY", "tdds_scores", "TDDS_TRAJECTORY",
           "TDDS_WINDOW"]
