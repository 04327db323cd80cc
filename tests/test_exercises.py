"""The self-checking exercises: every check accepts a correct answer written independently here (plain loops and
numpy, not corelib's code) and rejects a deliberately wrong one, saying which cases fail."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import corelib as cl
from corelib import exercises


def fgsm(model, x, y, eps):
    x = x.clone().requires_grad_(True)
    F.cross_entropy(model.eval()(x), y).backward()
    return (x + eps * x.grad.sign()).clamp(0, 1).detach()


def fgsm_wrong(model, x, y, eps):  # forgets the clip to [0, 1]
    x = x.clone().requires_grad_(True)
    F.cross_entropy(model.eval()(x), y).backward()
    return (x + eps * x.grad.sign()).detach()


def sparse_mask(grad, k):
    out = np.zeros(grad.shape, dtype=bool)
    flat = out.reshape(len(grad), -1)
    for i, g in enumerate(np.abs(grad.numpy()).reshape(len(grad), -1)):
        flat[i, np.argsort(-g, kind="stable")[:k]] = True
    return torch.from_numpy(out)


def sparse_mask_wrong(grad, k):  # ranks the signed gradient, not its magnitude
    top = grad.flatten(1).topk(k, dim=1).indices
    return torch.zeros(grad.flatten(1).shape, dtype=torch.bool).scatter(1, top, True).view(grad.shape)


def sparse_fgsm(x, grad, k, eps):
    mask = sparse_mask(grad, k)
    return torch.where(mask, (x + eps * torch.sign(grad)).clamp(0, 1), x)


def sparse_fgsm_wrong(x, grad, k, eps):  # perturbs every dimension (plain FGSM)
    return (x + eps * torch.sign(grad)).clamp(0, 1)


def _first_wrong(probs, labels):
    wrong = probs.argmax(-1) != labels[:, None]
    return [int(np.argmax(w)) if w.any() else None for w in wrong.numpy()]


def _minmax(v):
    span = v.max() - v.min()
    return (v - v.min()) / span if span > 0 else np.zeros_like(v)


def isef(probs, labels, ks, alpha=0.5):
    levels = [1, *ks]
    s_inv = np.array([0.0 if j is None else 1 / levels[j] for j in _first_wrong(probs, labels)])
    p0 = probs[:, 0].numpy()
    s_ent = np.array([-sum(p * math.log10(p) for p in row if p > 0) for row in p0])
    return torch.tensor(alpha * _minmax(s_inv) + (1 - alpha) * _minmax(s_ent))


def isef_wrong(probs, labels, ks, alpha=0.5):  # natural-log entropy and no normalisation
    levels = [1, *ks]
    s_inv = np.array([0.0 if j is None else 1 / levels[j] for j in _first_wrong(probs, labels)])
    s_ent = -(probs[:, 0] * probs[:, 0].log()).sum(-1).numpy()
    return torch.tensor(alpha * s_inv + (1 - alpha) * s_ent)


def fgsm_cs(probs, labels, ks, weights=(0.5, 0.3, 0.2)):
    p = probs.numpy()
    out = []
    for i in range(len(p)):
        s_adv = sum(np.abs(p[i, 0] - p[i, j + 1]).sum() / k for j, k in enumerate(ks))
        s_unc = max(-sum(q * math.log(q) for q in p[i, j] if q > 0) for j in range(len(ks) + 1))
        s_rob = float(any(p[i, j + 1].argmax() != int(labels[i]) for j in range(len(ks))))
        out.append(weights[0] * s_adv + weights[1] * s_unc + weights[2] * s_rob)
    return torch.tensor(out)


def fgsm_cs_wrong(probs, labels, ks, weights=(0.5, 0.3, 0.2)):  # the uncertainty at k = 0 only
    p = probs.numpy()
    out = []
    for i in range(len(p)):
        s_adv = sum(np.abs(p[i, 0] - p[i, j + 1]).sum() / k for j, k in enumerate(ks))
        s_unc = -sum(q * math.log(q) for q in p[i, 0] if q > 0)
        s_rob = float(any(p[i, j + 1].argmax() != int(labels[i]) for j in range(len(ks))))
        out.append(weights[0] * s_adv + weights[1] * s_unc + weights[2] * s_rob)
    return torch.tensor(out)


def pss(probs, ks):
    p = probs.numpy()
    return torch.tensor([sum(np.linalg.norm(p[i, j + 1] - p[i, 0]) / (math.log2(k) + 1) for j, k in enumerate(ks))
                         for i in range(len(p))])


def pss_wrong(probs, ks):  # the prose's weight 1/log₂(k + 1) instead of Eq. 7's
    p = probs.numpy()
    return torch.tensor([sum(np.linalg.norm(p[i, j + 1] - p[i, 0]) / math.log2(k + 1) for j, k in enumerate(ks))
                         for i in range(len(p))])


def gradient_norms(model, x, y):
    norms = []
    for xi, yi in zip(x, y):  # one image at a time: independence from the batch by construction
        xi = xi[None].clone().requires_grad_(True)
        F.cross_entropy(model.eval()(xi), yi[None]).backward()
        norms.append(float(xi.grad.norm()))
    return torch.tensor(norms)


def gradient_norms_wrong(model, x, y):  # the batch-mean loss scales every gradient by 1/B
    x = x.clone().requires_grad_(True)
    F.cross_entropy(model.eval()(x), y).backward()
    return x.grad.flatten(1).norm(dim=1)


def facility_location(sim, k):
    s = sim.numpy()
    best, chosen = np.zeros(len(s)), []
    for _ in range(k):
        gains = [-1.0 if j in chosen else np.maximum(s[:, j] - best, 0).sum() for j in range(len(s))]
        j = int(np.argmax(gains))
        chosen.append(j)
        best = np.maximum(best, s[:, j])
    return torch.tensor(chosen)


def facility_location_wrong(sim, k):  # the k most central points, no greedy coverage
    return sim.sum(0).argsort(descending=True)[:k]


def class_balanced_counts(labels, total):
    sizes = np.bincount(labels.numpy())
    quota = total * sizes / sizes.sum()
    counts = np.floor(quota).astype(int)
    for c in np.argsort(-(quota - counts), kind="stable")[: total - counts.sum()]:
        counts[c] += 1
    return torch.tensor(counts)


def class_balanced_counts_wrong(labels, total):  # rounds each quota: the total is not kept
    sizes = np.bincount(labels.numpy())
    return torch.tensor(np.round(total * sizes / sizes.sum()).astype(int))


ANSWERS = {"fgsm": (fgsm, fgsm_wrong), "sparse_mask": (sparse_mask, sparse_mask_wrong),
           "sparse_fgsm": (sparse_fgsm, sparse_fgsm_wrong), "isef": (isef, isef_wrong),
           "fgsm_cs": (fgsm_cs, fgsm_cs_wrong), "pss": (pss, pss_wrong),
           "gradient_norms": (gradient_norms, gradient_norms_wrong),
           "facility_location": (facility_location, facility_location_wrong),
           "class_balanced_counts": (class_balanced_counts, class_balanced_counts_wrong)}


def test_every_exercise_has_a_correct_and_a_wrong_answer_here():
    assert set(exercises.names()) == set(ANSWERS)
    assert cl.exercises is exercises


@pytest.mark.parametrize("name", sorted(ANSWERS))
def test_a_correct_answer_passes_and_a_wrong_one_fails(name, capsys):
    right, wrong = ANSWERS[name]
    assert exercises.check(name, right) is True
    out = capsys.readouterr().out
    assert "all cases agree" in out and "✗" not in out
    assert exercises.check(name, wrong) is False
    out = capsys.readouterr().out
    assert "✗" in out and "some cases disagree" in out


def test_an_answer_that_raises_is_reported_with_its_line_and_a_bad_name_says_what_exists(capsys):
    def broken(probs, ks):
        return probs[:, 1:] @ ks  # ks is a list: TypeError

    assert exercises.check("pss", broken) is False
    out = capsys.readouterr().out
    assert out.count("raised TypeError") == 3 and "line" in out
    with pytest.raises(ValueError, match="unknown exercise 'isf'.*names"):
        exercises.check("isf", isef)
    with pytest.raises(TypeError, match="needs a function"):
        exercises.check("isef", 3)


def test_a_wrong_shape_is_named_and_the_checks_are_seeded(capsys):
    assert exercises.check("pss", lambda probs, ks: torch.zeros(len(probs), 1)) is False
    assert "expected (6,)" in capsys.readouterr().out
    first = [(d, {k: v.clone() if torch.is_tensor(v) else v for k, v in kw.items()})
             for d, kw in exercises.EXERCISES["isef"].cases(torch.Generator().manual_seed(3))]
    again = exercises.EXERCISES["isef"].cases(torch.Generator().manual_seed(3))
    assert all(torch.equal(a[1]["probs"], b[1]["probs"]) for a, b in zip(first, again))
    assert "chapter 3" in exercises.describe("isef")
