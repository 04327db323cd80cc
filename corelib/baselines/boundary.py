"""Decision-boundary baselines: keep the samples nearest the proxy's decision boundary (DeepFool), or whose
prediction differs most from their neighbours' (Cal)."""
from __future__ import annotations

import math

import torch

from ..data import Pool, pool_batches
from ..models import eval_mode
from ..sampling import class_members
from .proxy import Passes, embeddings_and_probabilities, pool_scores, ranked, shared
from .registry import register


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


@register("deepfool", family="decision boundary", keeps="bottom", reads="input gradients (iterative)",
          description="the smallest DeepFool perturbation (closest to the boundary)", paper="Ducoffe & Precup 2018")
def deepfool(proxy, fraction, seed, passes, class_balanced, max_iter: int = 10, candidates: int = 3, **_):
    """DeepFool (Ducoffe & Precup 2018): keep the samples closest to the decision boundary (smallest ‖r‖₂)."""
    dist = shared(proxy, passes, ("deepfool", max_iter, candidates),
                  lambda own: deepfool_distances(proxy.model, proxy.pool, max_iter, candidates=candidates, passes=own))
    return ranked(proxy, pool_scores(proxy, dist), fraction, seed, "bottom", class_balanced, "deepfool")


@register("cal", family="decision boundary", keeps="top", reads="embeddings, predictions",
          description="predictions most unlike their same-class neighbours' (contrastive)", paper="Margatina et al. 2021")
def cal(proxy, fraction, seed, passes, class_balanced, neighbours: int = 10, **_):
    """Cal (Margatina et al. 2021, as in DeepCore): the mean KL divergence between a sample's prediction and those
    of its `neighbours` nearest same-class neighbours in embedding space; keep the highest (contrastive)."""
    feats, p = embeddings_and_probabilities(proxy, passes)
    score = torch.empty(len(proxy.pool), dtype=torch.float64)
    log_p = p.clamp_min(1e-12).log()
    for _, members in class_members(proxy.pool.labels):
        d = torch.cdist(feats[members], feats[members])
        d.fill_diagonal_(math.inf)
        nn_idx = d.topk(min(neighbours, len(members) - 1), largest=False).indices
        pn, lpn = p[members][nn_idx], log_p[members][nn_idx]  # (m, K, C)
        kl = (pn * (lpn - log_p[members][:, None, :])).sum(-1)  # KL(p_neighbour ‖ p_i)
        score[members] = kl.mean(1).double()
    return ranked(proxy, pool_scores(proxy, score), fraction, seed, "top", class_balanced, "cal")
