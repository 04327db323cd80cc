"""The DeepCore baselines (Guo, Zhao & Bai 2022, "DeepCore: A Comprehensive Library for Coreset Selection in
Deep Learning") and the project's own methods behind one call:

    selection = select_coreset("kcenter", proxy, fraction=0.1, seed=0)

Every method reads a `Proxy`: a model trained on the pool for `selection_epochs` (DeepCore's semantics; one per
seed, shared by all methods), its per-epoch correctness (Forgetting) and in-training AIGN (EasyCore). Selections
are class-balanced by default (the project's rule, `data.balanced_counts`); pairwise methods compare samples of
one class at a time, so no n×n matrix over the whole pool is ever formed. Every selection records its wall time
and the forward and backward passes it took (in samples, and in passes over the pool), on top of the proxy.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import pandas as pd
import torch
import torch.nn.functional as F

from .coreset_solvers import by_class, facility_location_greedy
from .coreset_solvers import per_class as _per_class_solver
from .data import Pool
from .evaluate import eval_mode, pool_batches
from .select import Selection, check_fraction, random_selection, select_by_score
from .train import RecordPerSample, TrainConfig, fit


@dataclass
class Passes:
    """Per-sample forward and backward evaluations a selection made (beyond training its proxy), and the seconds
    of shared artifacts it reused instead of recomputing (charged to it, so every selection is costed cold)."""

    forward: int = 0
    backward: int = 0
    reused_seconds: float = 0.0


class _Correctness(RecordPerSample):
    def __repr__(self):  # a stable name for the cache key
        return "RecordPerSample()"


@dataclass
class Proxy:
    """A trained selection model with what DeepCore's methods read from its training run."""

    model: torch.nn.Module
    pool: Pool
    per_sample: pd.DataFrame  # epoch, index, loss, correct (every proxy epoch)
    aign: pd.Series  # EasyCore's AIGN recorded in training, by dataset index
    seconds: float
    epochs: int
    passes: Passes = field(default_factory=Passes)  # proxy training: epochs · n forward and backward
    memo: dict = field(default_factory=dict, repr=False)  # artifacts shared by selections (see `shared`)


def shared(proxy: Proxy, passes: Passes, key, compute):
    """An artifact of the proxy (embeddings, gradients, the sensitivity table, DeepFool distances) computed once
    and reused by every selection that reads it, e.g. at every fraction. Each selection is still charged the
    artifact's full cost, passes and seconds, as if it had computed it itself."""
    if key not in proxy.memo:
        own = Passes()
        start = time.perf_counter()
        value = compute(own)
        proxy.memo[key] = (value, time.perf_counter() - start, own)
        passes.forward += own.forward
        passes.backward += own.backward
        return value
    value, seconds, own = proxy.memo[key]
    passes.forward += own.forward
    passes.backward += own.backward
    passes.reused_seconds += seconds
    return value


def train_proxy(model_name: str, pool: Pool, epochs: int, seed: int = 0, lr: float = 0.05, batch_size: int = 128,
                weight_decay: float = 5e-4, warmup_epochs: float = 0.0, cache=None) -> Proxy:
    """DeepCore's selection model: `model_name` trained on the whole pool for `epochs` epochs (cached)."""
    from .hardness import AIGN, aign_series

    config = TrainConfig(epochs=int(epochs), lr=lr, batch_size=batch_size, weight_decay=weight_decay,
                         warmup_epochs=min(warmup_epochs, epochs / 4), seed=seed)
    result = fit(model_name, pool, config, model_seed=seed, cache=cache, progress=False,
                 recorders={"per_sample": _Correctness(), "aign": AIGN("in_training")})
    n = len(pool) * int(epochs)
    return Proxy(result.model.eval(), pool, result.tables["per_sample"], aign_series(result.tables["aign"]),
                 result.seconds, int(epochs), Passes(n, n))


# ---------------------------------------------------------------- what the methods read off the proxy

def embeddings_and_probabilities(proxy: Proxy, passes: Passes, batch_size: int = 500):
    """Penultimate features (n, D) and softmax outputs (n, C) of the pool, one forward pass."""
    def compute(own):
        feats, probs = [], []
        with eval_mode(proxy.model), torch.no_grad():
            for x, _ in pool_batches(proxy.pool, batch_size):
                h = proxy.model.features(x).float()
                feats.append(h.cpu())
                probs.append(F.softmax(proxy.model.linear(h).float(), 1).cpu())
        own.forward += len(proxy.pool)
        return torch.cat(feats), torch.cat(probs)

    return shared(proxy, passes, "embeddings", compute)


def proxy_gradients(proxy: Proxy, passes: Passes, adversarial: dict | None = None) -> torch.Tensor:
    """Per-sample gradients of CE with respect to the last layer (closed form, no backward pass), at the clean
    input or, with `adversarial` PGD parameters, at the PGD example (adversarial CRAIG / GradMatch, Eq. 18)."""
    from .adversarial_coreset import selection_gradients

    n = len(proxy.pool)

    def compute(own):
        if adversarial is None:
            own.forward += n
            return selection_gradients(proxy.model, proxy.pool, "standard")
        steps = int(adversarial.get("steps", 10))
        own.forward += n * (steps + 1)
        own.backward += n * steps
        return selection_gradients(proxy.model, proxy.pool, "pgd", adversarial)

    return shared(proxy, passes, ("gradients", repr(sorted((adversarial or {}).items()))), compute)


# ---------------------------------------------------------------- greedy building blocks (one class at a time)

def herding(features: torch.Tensor, k: int) -> torch.Tensor:
    """Herding (Welling 2009): greedily add the sample that brings the mean of the chosen set closest to the
    mean μ of all: argminⱼ ‖μ − (Σ_S eᵢ + eⱼ)/(|S| + 1)‖. Returns positions in selection order."""
    f = features.double()
    mu, total = f.mean(0), torch.zeros(f.shape[1], dtype=torch.float64)
    available = torch.ones(len(f), dtype=torch.bool)
    chosen = []
    for i in range(k):
        dist = (mu - (total + f) / (i + 1)).norm(dim=1)
        dist[~available] = math.inf
        j = int(torch.argmin(dist))
        chosen.append(j)
        available[j] = False
        total += f[j]
    return torch.tensor(chosen, dtype=torch.long)


def k_center(distance_to, n: int, k: int, first: int) -> torch.Tensor:
    """k-Center Greedy (Sener & Savarese 2018): start at `first`, then repeatedly add the sample farthest from
    the chosen set. `distance_to(j)` returns the distances (n,) of every sample to sample j, so only one row of
    distances is ever held. Returns positions in selection order."""
    chosen = [int(first)]
    nearest = distance_to(first).double()
    for _ in range(k - 1):
        nearest[chosen] = -math.inf
        j = int(torch.argmax(nearest))
        chosen.append(j)
        nearest = torch.minimum(nearest, distance_to(j).double())
    return torch.tensor(chosen, dtype=torch.long)


def cosine_similarity_matrix(g: torch.Tensor) -> torch.Tensor:
    """Pairwise cosine similarities of one class's vectors, shifted to [0, 2] so every entry is non-negative."""
    g = F.normalize(g.double(), dim=1)
    return g @ g.T + 1


def graph_cut_greedy(sim: torch.Tensor, k: int, lam: float = 1.0) -> torch.Tensor:
    """argmax F(S) = Σ_{i∈V, j∈S} sim(i, j) − λ Σ_{i, j∈S} sim(i, j), greedily: the gain of j is
    Σᵢ sim(i, j) − λ(2 Σ_{s∈S} sim(s, j) + sim(j, j))."""
    coverage = sim.sum(0)
    inside = torch.zeros(len(sim), dtype=sim.dtype)
    available = torch.ones(len(sim), dtype=torch.bool)
    chosen = []
    for _ in range(k):
        gains = coverage - lam * (2 * inside + sim.diagonal())
        gains[~available] = -math.inf
        j = int(torch.argmax(gains))
        chosen.append(j)
        available[j] = False
        inside += sim[j]
    return torch.tensor(chosen, dtype=torch.long)


def forgetting_events(per_sample: pd.DataFrame) -> pd.Series:
    """Toneva et al. 2019: the number of times each sample goes from correct to incorrect between consecutive
    epochs of training; samples never learned count as forgotten more often than any other (max + 1)."""
    table = per_sample.sort_values(["index", "epoch"])
    correct = table["correct"].astype(bool).to_numpy()
    same = table["index"].to_numpy()
    prev_correct = pd.Series(correct).shift(1, fill_value=False).to_numpy()
    prev_same = pd.Series(same).shift(1).to_numpy() == same
    events = pd.Series((prev_same & prev_correct & ~correct).astype(int), index=table["index"]).groupby(level=0).sum()
    learned = pd.Series(correct, index=table["index"]).groupby(level=0).any()
    return events.where(learned, events.max() + 1).astype(float).rename("forgetting")


def deepfool_distances(model, pool: Pool, max_iter: int = 10, overshoot: float = 0.02, candidates: int = 3,
                       batch_size: int = 250, passes: Passes | None = None) -> torch.Tensor:
    """ℓ2 DeepFool (Moosavi-Dezfooli et al. 2016) for a whole batch at once: at every step each still-correct
    sample moves to the linearised boundary of the nearest of its `candidates` most likely other classes; the
    result is ‖r‖₂ of the total perturbation, or +inf for samples not flipped within `max_iter` steps."""
    out = []
    candidates = max(1, min(int(candidates), pool.num_classes - 1))
    with eval_mode(model):
        for x0, y in pool_batches(pool, batch_size):
            r_total = torch.zeros_like(x0)
            dist = torch.full((len(y),), math.inf, device=x0.device)
            active = torch.arange(len(y), device=x0.device)
            for step_index in range(max_iter + 1):
                x = (x0[active] + (1 + overshoot) * r_total[active]).clamp(0, 1).requires_grad_(True)
                logits = model(x).float()
                if passes is not None:
                    passes.forward += len(active)
                flipped = logits.argmax(1) != y[active]
                done = active[flipped]
                dist[done] = ((1 + overshoot) * r_total[done]).flatten(1).norm(dim=1)
                keep = ~flipped
                if not keep.any() or step_index == max_iter:
                    break
                y_active = y[active][:, None]
                others = logits.detach().scatter(1, y_active, -math.inf).topk(candidates, 1).indices
                grads, gaps = [], []
                for c in range(candidates):  # ∇(z_k − z_y) for each candidate class k, one backward each
                    diff = (logits.gather(1, others[:, c:c + 1]) - logits.gather(1, y_active)).squeeze(1)
                    (g,) = torch.autograd.grad(diff.sum(), x, retain_graph=c < candidates - 1)
                    grads.append(g)
                    gaps.append(diff.detach().abs())
                if passes is not None:
                    passes.backward += len(active) * candidates
                g = torch.stack(grads, 1)  # (B, K, C, H, W)
                norms = g.flatten(2).norm(dim=2).clamp_min(1e-12)
                ratio = torch.stack(gaps, 1) / norms  # distance to each linearised boundary
                best = ratio.argmin(1)
                rows = torch.arange(len(best), device=x.device)
                direction = g[rows, best] / norms[rows, best].view(-1, 1, 1, 1)
                step = (ratio[rows, best] + 1e-4).view(-1, 1, 1, 1) * direction
                r_total[active[keep]] += step[keep]
                active = active[keep]
            out.append(dist.cpu())
    return torch.cat(out)


# ---------------------------------------------------------------- the methods

def _scores_selection(proxy, scores, fraction, seed, keep, class_balanced, method):
    sel = select_by_score(proxy.pool, scores, fraction, keep, seed=seed, class_balanced=class_balanced, method=method)
    return sel.indices, None, sel.scores


def _pool_scores(proxy, values: torch.Tensor) -> pd.Series:
    return pd.Series(values.double().numpy(), index=proxy.pool.indices.cpu().numpy())


def _random(proxy, fraction, seed, passes, class_balanced, **_):
    return random_selection(proxy.pool, fraction, seed, class_balanced).indices, None, None


def _uncertainty(kind):
    def method(proxy, fraction, seed, passes, class_balanced, **_):
        _, p = embeddings_and_probabilities(proxy, passes)
        top2 = p.topk(2, dim=1).values
        score = {"least_confidence": 1 - top2[:, 0], "entropy": -torch.xlogy(p, p).sum(1),
                 "margin": -(top2[:, 0] - top2[:, 1])}[kind]  # higher = more uncertain, for all three
        return _scores_selection(proxy, _pool_scores(proxy, score), fraction, seed, "top", class_balanced, kind)
    return method


def _forgetting(proxy, fraction, seed, passes, class_balanced, **_):
    return _scores_selection(proxy, forgetting_events(proxy.per_sample), fraction, seed, "top", class_balanced,
                             "forgetting")


def _grand(proxy, fraction, seed, passes, class_balanced, **_):
    norms = proxy_gradients(proxy, passes).norm(dim=1)
    return _scores_selection(proxy, _pool_scores(proxy, norms), fraction, seed, "top", class_balanced, "grand")


def _moderate(proxy, fraction, seed, passes, class_balanced, **_):
    """Moderate-DS (Xia et al. 2023): keep the samples whose distance to their class centre is closest to the
    class's median distance."""
    feats, _ = embeddings_and_probabilities(proxy, passes)
    labels = proxy.pool.labels.cpu()
    score = torch.empty(len(labels), dtype=torch.float64)
    for c in labels.unique():
        m = labels == c
        d = (feats[m] - feats[m].mean(0)).double().norm(dim=1)
        score[m] = (d - d.median()).abs()
    return _scores_selection(proxy, _pool_scores(proxy, score), fraction, seed, "bottom", class_balanced, "moderate")


def _cal(proxy, fraction, seed, passes, class_balanced, neighbours: int = 10, **_):
    """Cal (Margatina et al. 2021, as in DeepCore): the mean KL divergence between a sample's prediction and those
    of its `neighbours` nearest same-class neighbours in embedding space; keep the highest (contrastive)."""
    feats, p = embeddings_and_probabilities(proxy, passes)
    labels = proxy.pool.labels.cpu()
    score = torch.empty(len(labels), dtype=torch.float64)
    log_p = p.clamp_min(1e-12).log()
    for c in labels.unique():
        members = torch.nonzero(labels == c).flatten()
        d = torch.cdist(feats[members], feats[members])
        d.fill_diagonal_(math.inf)
        nn_idx = d.topk(min(neighbours, len(members) - 1), largest=False).indices
        pn, lpn = p[members][nn_idx], log_p[members][nn_idx]  # (m, K, C)
        kl = (pn * (lpn - log_p[members][:, None, :])).sum(-1)  # KL(p_neighbour ‖ p_i)
        score[members] = kl.mean(1).double()
    return _scores_selection(proxy, _pool_scores(proxy, score), fraction, seed, "top", class_balanced, "cal")


def _deepfool(proxy, fraction, seed, passes, class_balanced, max_iter: int = 10, candidates: int = 3, **_):
    """DeepFool (Ducoffe & Precup 2018): keep the samples closest to the decision boundary (smallest ‖r‖₂)."""
    dist = shared(proxy, passes, ("deepfool", max_iter, candidates),
                  lambda own: deepfool_distances(proxy.model, proxy.pool, max_iter, candidates=candidates, passes=own))
    return _scores_selection(proxy, _pool_scores(proxy, dist), fraction, seed, "bottom", class_balanced, "deepfool")


def _greedy(kind):
    def method(proxy, fraction, seed, passes, class_balanced, **params):
        if not class_balanced:
            raise ValueError(f"{kind} compares samples pairwise and runs class by class; use class_balanced=True "
                             "(a pool-wide run would need an n×n matrix)")
        labels = proxy.pool.labels.cpu()
        if kind in ("herding", "kcenter"):
            feats, _ = embeddings_and_probabilities(proxy, passes)
        if kind == "contextual_diversity":
            _, p = embeddings_and_probabilities(proxy, passes)
            log_p = p.double().clamp_min(1e-12).log()
        if kind in ("facility_location", "graph_cut"):
            grads = proxy_gradients(proxy, passes)

        def choose(members, k, generator):
            first = int(torch.randint(len(members), (1,), generator=generator))
            if kind == "herding":
                return herding(feats[members], k), None
            if kind == "kcenter":
                f = feats[members].double()
                return k_center(lambda j: (f - f[j]).norm(dim=1), len(members), k, first), None
            if kind == "contextual_diversity":  # k-center on the symmetric KL between predictions
                q, lq = p[members].double(), log_p[members]
                return k_center(lambda j: ((q - q[j]) * (lq - lq[j])).sum(1), len(members), k, first), None
            sim = cosine_similarity_matrix(grads[members])
            if kind == "facility_location":
                return facility_location_greedy(sim, k), None
            return graph_cut_greedy(sim, k, params.get("lam", 1.0)), None

        positions, _ = by_class(labels, fraction, seed, choose)
        return proxy.pool.indices.cpu()[positions], None, None
    return method


def _matching(solver, adversarial: bool):
    def method(proxy, fraction, seed, passes, class_balanced, pgd: dict | None = None, **params):
        if not class_balanced:
            raise ValueError(f"{solver} runs class by class here; use class_balanced=True")
        attack = (pgd or {"eps": 8 / 255, "alpha": 2 / 255, "steps": 3}) if adversarial else None
        grads = proxy_gradients(proxy, passes, attack)
        positions, weights = _per_class_solver(grads, proxy.pool.labels.cpu(), fraction, solver, seed, **params)
        keep = weights > 0
        return proxy.pool.indices.cpu()[positions[keep]], weights[keep].float(), None
    return method


def _glister(proxy, fraction, seed, passes, class_balanced, eta: float = 0.1, **_):
    """Glister (Killamsetty et al. 2021), last-layer form as in DeepCore: per class, greedily add the sample whose
    gradient best aligns with the gradient of the (class's) validation loss at the parameters after a step of size
    η on the samples chosen so far: argmaxⱼ ⟨gⱼ, ∇L_val(θ − η Σ_S gᵢ)⟩. The validation set is the class's own
    training samples (DeepCore's default); the update is exact for the last layer, whose inputs h stay fixed."""
    if not class_balanced:
        raise ValueError("glister runs class by class here; use class_balanced=True")
    feats, _ = embeddings_and_probabilities(proxy, passes)
    weight = proxy.model.linear.weight.detach().double().cpu()
    bias = proxy.model.linear.bias.detach().double().cpu()
    labels = proxy.pool.labels.cpu()
    num_classes = weight.shape[0]

    def gradients(h, y, w, b):
        residual = F.softmax(h @ w.T + b, 1) - F.one_hot(y, num_classes).double()
        return torch.cat([residual[:, :, None] * h[:, None, :], residual[:, :, None]], 2).flatten(1)

    def choose(members, k, generator):
        h, y = feats[members].double(), labels[members]
        g = gradients(h, y, weight, bias)
        w, b = weight.clone(), bias.clone()
        available = torch.ones(len(members), dtype=torch.bool)
        chosen = []
        for _ in range(k):
            val = gradients(h, y, w, b).mean(0)
            gains = g @ val
            gains[~available] = -math.inf
            j = int(torch.argmax(gains))
            chosen.append(j)
            available[j] = False
            step = (eta * g[j]).view(num_classes, -1)
            w, b = w - step[:, :-1], b - step[:, -1]
        return torch.tensor(chosen, dtype=torch.long), None

    positions, _ = by_class(labels, fraction, seed, choose)
    return proxy.pool.indices.cpu()[positions], None, None


def _sensitivity(scheme, keep):
    def method(proxy, fraction, seed, passes, class_balanced, ks=(1, 4, 16, 64), eps: float = 1.0, **params):
        from .scores import score
        from .sensitivity import sensitivity_table

        def compute(own):
            n = len(proxy.pool)
            own.forward += n * (1 + len(ks))  # one input gradient (its forward is the clean output) + one per level
            own.backward += n
            return sensitivity_table(proxy.model, proxy.pool, ks, eps)

        table = shared(proxy, passes, ("sensitivity", tuple(ks), float(eps)), compute)
        return _scores_selection(proxy, score(table, scheme, ks=ks, **params), fraction, seed, keep, class_balanced,
                                 f"{scheme}_{keep}")
    return method


def _easycore(proxy, fraction, seed, passes, class_balanced, **_):
    """EasyCore: the lowest AIGN, recorded for free while the proxy trained (in-training mode)."""
    return _scores_selection(proxy, proxy.aign, fraction, seed, "bottom", class_balanced, "easycore")


DEEPCORE = {
    "random": _random, "herding": _greedy("herding"), "kcenter": _greedy("kcenter"),
    "least_confidence": _uncertainty("least_confidence"), "entropy": _uncertainty("entropy"),
    "margin": _uncertainty("margin"), "forgetting": _forgetting, "grand": _grand, "cal": _cal,
    "craig": _matching("craig", False), "gradmatch": _matching("gradmatch", False), "glister": _glister,
    "facility_location": _greedy("facility_location"), "graph_cut": _greedy("graph_cut"), "deepfool": _deepfool,
    "contextual_diversity": _greedy("contextual_diversity"), "moderate": _moderate,
}
OURS = {
    **{f"{s}_{k}": _sensitivity(s, k) for s in ("isef", "fgsm_cs", "pss") for k in ("top", "bottom")},
    "easycore": _easycore, "adv_craig": _matching("craig", True), "adv_gradmatch": _matching("gradmatch", True),
}
METHODS = {**DEEPCORE, **OURS}


def check_method(method: str) -> str:
    if method not in METHODS:
        raise ValueError(f"unknown selection method {method!r}; choose one of {sorted(METHODS)}")
    return method


def select_coreset(method: str, proxy: Proxy, fraction: float, seed: int = 0, class_balanced: bool = True,
                   **params) -> Selection:
    """The coreset of `method` (a name in `METHODS`) with round(fraction · n) samples of the proxy's pool.
    `config` records the fraction, seed, the wall time and the forward / backward passes the selection took
    (samples, and passes over the pool), apart from training the proxy. Artifacts shared with other selections of
    the same proxy are computed once, but their cost is charged to every selection that reads them."""
    check_method(method)
    fraction = check_fraction(fraction)
    passes = Passes()
    start = time.perf_counter()
    indices, weights, scores = METHODS[method](proxy, fraction, seed, passes, class_balanced, **params)
    seconds = time.perf_counter() - start + passes.reused_seconds
    order = torch.argsort(indices)
    n = len(proxy.pool)
    config = {"fraction": fraction, "seed": seed, "class_balanced": class_balanced, **params,
              "forward": passes.forward, "backward": passes.backward,
              "forward_passes": passes.forward / n, "backward_passes": passes.backward / n}
    return Selection(indices[order], None if weights is None else weights[order],
                     proxy.pool.indices.cpu() if scores is not None else None, scores, method, config, seconds)


DESCRIPTIONS = {  # method: (family, what it keeps, what it reads from the proxy)
    "random": ("random", "a uniform class-balanced sample", "nothing"),
    "herding": ("geometry", "samples whose running mean tracks the class mean", "embeddings"),
    "kcenter": ("geometry", "the farthest-first cover of each class", "embeddings"),
    "least_confidence": ("uncertainty", "the lowest top-class probability", "predictions"),
    "entropy": ("uncertainty", "the highest predictive entropy", "predictions"),
    "margin": ("uncertainty", "the smallest top-1 − top-2 margin", "predictions"),
    "forgetting": ("training dynamics", "the most forgetting events", "per-epoch correctness"),
    "grand": ("error / gradient", "the largest last-layer gradient norm", "last-layer gradients"),
    "cal": ("decision boundary", "predictions most unlike their neighbours'", "embeddings, predictions"),
    "craig": ("gradient matching", "a weighted facility-location cover of gradients", "last-layer gradients"),
    "gradmatch": ("gradient matching", "weighted OMP on the class gradient", "last-layer gradients"),
    "glister": ("bilevel", "greedy gains on the validation loss after a step", "embeddings, last layer"),
    "facility_location": ("submodular", "a facility-location cover (cosine)", "last-layer gradients"),
    "graph_cut": ("submodular", "a graph-cut trade-off of cover and diversity", "last-layer gradients"),
    "deepfool": ("decision boundary", "the smallest DeepFool perturbation", "input gradients (iterative)"),
    "contextual_diversity": ("geometry", "k-center on the symmetric KL of predictions", "predictions"),
    "moderate": ("geometry", "distances to the class centre nearest the median", "embeddings"),
    "easycore": ("hardness (ours)", "the lowest AIGN", "input-gradient norms in training"),
    "adv_craig": ("adversarial matching (ours)", "CRAIG on gradients at PGD examples", "PGD + last layer"),
    "adv_gradmatch": ("adversarial matching (ours)", "GradMatch on gradients at PGD examples", "PGD + last layer"),
    **{f"{s}_{k}": ("sparse FGSM (ours)", f"the {'highest' if k == 'top' else 'lowest'} {s} scores",
                    "sparse FGSM at k = 1, 4, 16, 64") for s in ("isef", "fgsm_cs", "pss") for k in ("top", "bottom")},
}


def describe(methods=None) -> pd.DataFrame:
    """One row per method: family, what it keeps, what it reads from the proxy."""
    methods = sorted(METHODS) if methods is None else methods
    return pd.DataFrame([(m, *DESCRIPTIONS[m]) for m in methods],
                        columns=["method", "family", "keeps", "reads"]).set_index("method")
