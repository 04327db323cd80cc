"""Decision-boundary baselines: keep the samples nearest the proxy's decision boundary (DeepFool), or whose
prediction differs most from their neighbours' (Cal)."""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch

from ..checks import check_integer
from ..data import Pool, pool_batches
from ..models import eval_mode
from ..sampling import class_members
from .proxy import Passes, embeddings_and_probabilities, pool_scores, ranked, shared
from .registry import deviates, register

if TYPE_CHECKING:
    from .proxy import MethodResult, Proxy


def deepfool_distances(model: torch.nn.Module, pool: Pool, max_iter: int = 50, overshoot: float = 0.02,
                       candidates: int | None = None, batch_size: int = 250,
                       passes: Passes | None = None) -> torch.Tensor:
    """ℓ2 DeepFool (Moosavi-Dezfooli et al. 2016) for a whole batch at once, measured from the model's own
    prediction p = argmax f(x₀) at the clean input (as DeepCore's `first_preds`), not from the true label: a
    misclassified sample gets a positive distance like any other. At every step each sample whose prediction is
    still p moves to the linearised boundary of the nearest other class k, by (|f_k − f_p| / ‖∇(f_k − f_p)‖₂ +
    1e-4) along ∇(f_k − f_p) (the 1e-4 steps just past the boundary, so a linear model flips in one step), and
    stops as soon as argmax ≠ p. `candidates=None` compares all the other classes (DeepCore); an int k compares
    only the k most likely other classes (cheaper: one backward per candidate per step). The probed input is
    x₀ + (1 + overshoot)·r_tot clamped to [0, 1]; the result is ‖(1 + overshoot)·r_tot‖₂, or +inf for samples
    whose prediction has not changed within `max_iter` steps."""
    out = []
    with eval_mode(model):
        for x0, _ in pool_batches(pool, batch_size):
            n = len(x0)
            r_total = torch.zeros_like(x0)
            dist = torch.full((n,), math.inf, device=x0.device)
            active = torch.arange(n, device=x0.device)
            first_pred = k = None
            for step_index in range(max_iter + 1):
                x = (x0[active] + (1 + overshoot) * r_total[active]).clamp(0, 1).requires_grad_(True)
                logits = model(x).float()
                if passes is not None:
                    passes.forward += len(active)
                if first_pred is None:  # step 0 is the clean input: its prediction is the reference label
                    first_pred = logits.detach().argmax(1)
                    others = logits.shape[1] - 1
                    k = max(1, others if candidates is None else min(int(candidates), others))
                pred = first_pred[active]
                flipped = logits.argmax(1) != pred
                done = active[flipped]
                dist[done] = ((1 + overshoot) * r_total[done]).flatten(1).norm(dim=1)
                keep = ~flipped
                if not keep.any() or step_index == max_iter:
                    break
                pred = pred[:, None]
                rivals = logits.detach().scatter(1, pred, -math.inf).topk(k, 1).indices
                grads, gaps = [], []
                for c in range(k):  # ∇(f_k − f_p) for each candidate class k, one backward each
                    diff = (logits.gather(1, rivals[:, c:c + 1]) - logits.gather(1, pred)).squeeze(1)
                    (g,) = torch.autograd.grad(diff.sum(), x, retain_graph=c < k - 1)
                    grads.append(g)
                    gaps.append(diff.detach().abs())
                if passes is not None:
                    passes.backward += len(active) * k
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


@register("deepfool", family="decision boundary", keeps="bottom", reads="input gradients (iterative)",
          description="the smallest DeepFool perturbation (closest to the boundary)", paper="Ducoffe & Precioso 2018")
def deepfool(proxy: Proxy, fraction: float, seed: int, passes: Passes, class_balanced: bool, max_iter: int = 50,
             candidates: int | None = None) -> MethodResult:
    """DeepFool (Ducoffe & Precioso 2018, as in DeepCore): keep the samples closest to the decision boundary, the
    smallest DeepFool perturbation ‖r‖₂ away from the proxy's own clean prediction (`deepfool_distances`).

    As in DeepCore: the reference is the prediction (`first_preds`), not the label; all classes are compared
    (`candidates=None`); at most `max_iter` = 50 steps; samples are ranked by the size of the total perturbation
    (DeepCore by ‖r_tot‖₂², the same order).

    Unlike DeepCore (each recorded with `deviates` below, and listed in chapter 8): a step goes 1e-4 past the
    linearised boundary; the input is probed at, and the distance read as, (1 + overshoot)·r_tot with overshoot 0.02;
    ‖r‖₂ is measured on [0, 1] pixels with the probed input clamped to [0, 1]; a sample still unflipped after
    `max_iter` steps scores +inf, ranked last."""
    max_iter = check_integer("max_iter", max_iter, minimum=1, hint="DeepFool steps; DeepCore uses 50")
    if candidates is not None:
        candidates = check_integer("candidates", candidates, minimum=1,
                                   hint="how many of the most likely other classes to compare; None compares all")
    dist = shared(proxy, passes, ("deepfool", max_iter, candidates),
                  lambda own: deepfool_distances(proxy.model, proxy.pool, max_iter, candidates=candidates, passes=own))
    return ranked(proxy, pool_scores(proxy, dist), fraction, seed, "bottom", class_balanced, "deepfool")


CAL_NEIGHBOURS = 10  # Cal's default number of same-class neighbours


@register("cal", family="decision boundary", keeps="top", reads="embeddings, predictions",
          description="predictions most unlike their same-class neighbours' (contrastive)", paper="Margatina et al. 2021")
def cal(proxy: Proxy, fraction: float, seed: int, passes: Passes, class_balanced: bool,
        neighbours: int | None = None) -> MethodResult:
    """Cal (Margatina et al. 2021, "contrastive active learning"): the mean KL divergence KL(p_neighbour ‖ p_i)
    between the predictions of a sample's `neighbours` nearest same-class neighbours in embedding space and its own
    (default None: 10, or the class size − 1 in a class of fewer than 11 samples; an explicit value must satisfy
    1 ≤ neighbours ≤ the smallest class size − 1);
    keep the highest (the predictions that diverge most, as Margatina et al. and the CoreAdv report describe it).
    DeepCore's `cal.py` differs twice: it uses a symmetric KL, and its sort keeps the *lowest* scores (DeepCore
    issue #29). The sparse-FGSM paper's Cal row comes from DeepCore's code, so it measures that other method."""
    sizes = {c: len(members) for c, members in class_members(proxy.pool.labels)}
    smallest = min(sizes, key=sizes.get)
    if sizes[smallest] < 2:
        raise ValueError(f"cal compares each sample with its same-class neighbours, but class {smallest} has only "
                         f"{sizes[smallest]} sample in the pool; use a pool with at least 2 samples per class")
    if neighbours is not None:
        neighbours = check_integer("neighbours", neighbours, minimum=1, maximum=sizes[smallest] - 1,
                                   hint=f"same-class nearest neighbours; the smallest class ({smallest}) has "
                                        f"{sizes[smallest]} samples, so at most {sizes[smallest] - 1}")
    k_nn = CAL_NEIGHBOURS if neighbours is None else neighbours
    feats, p = embeddings_and_probabilities(proxy, passes)
    score = torch.empty(len(proxy.pool), dtype=torch.float64)
    log_p = p.clamp_min(1e-12).log()
    for _, members in class_members(proxy.pool.labels):
        d = torch.cdist(feats[members], feats[members])
        d.fill_diagonal_(math.inf)
        nn_idx = d.topk(min(k_nn, len(members) - 1), largest=False).indices
        pn, lpn = p[members][nn_idx], log_p[members][nn_idx]  # (m, K, C)
        kl = (pn * (lpn - log_p[members][:, None, :])).sum(-1)  # KL(p_neighbour ‖ p_i)
        score[members] = kl.mean(1).double()
    return ranked(proxy, pool_scores(proxy, score), fraction, seed, "top", class_balanced, "cal")




deviates("deepfool", "step", "each step goes 1e-4 past the linearised boundary", "steps exactly onto it",
         "so a linear model flips in one step instead of stalling on the boundary")
deviates("deepfool", "overshoot", "probes and measures (1 + 0.02)·r_tot (the original DeepFool's overshoot)",
         "no overshoot", "DeepFool's own definition (Moosavi-Dezfooli et al.)")
deviates("deepfool", "input space", "‖r‖₂ on [0, 1] pixels, the probed input clamped to [0, 1]",
         "‖r‖₂ on the normalised input, not clamped", "the book's convention: inputs in [0, 1], normalisation inside "
         "the model")
deviates("deepfool", "samples never flipped", "+inf, ranked last (farthest from the boundary)",
         "the perturbation accumulated after the last step", "a sample 50 steps could not flip is not near the boundary")
deviates("cal", "score", "KL(p_neighbour ‖ p_i), one-sided, highest kept (Margatina et al.)",
         "a symmetric KL, and its sort keeps the lowest (DeepCore issue #29)", "the paper's definition",
         definition=True)
deviates("cal", "neighbour features", "the proxy's penultimate features", "an ImageNet-pretrained ResNet-18's",
         "offline there are no pretrained weights, and every baseline reads the one proxy (DeepCore's selection model)")


__all__ = ["cal", "CAL_NEIGHBOURS", "deepfool", "deepfool_distances"]
