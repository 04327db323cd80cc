"""Sparse FGSM scoring speed, measured in one run on the same model and images.

(a) RESULT sparse_speedup_vs_perk: the one-gradient multi-k scorer (`corelib.sensitivity.sparse_probabilities`:
    one input gradient, one top-k, prefix masks, one stacked forward) against a per-k reference that, as the
    paper describes, computes a fresh gradient and a forward pass for each k. Goal ≥ 2: with a forward pass
    costing f gradient passes the cost model allows at most (L + (L + 1)f) / (1 + Lf) ≈ 2.5 for L = 4 levels here.
(b) RESULT sparse_scorer_gradient_passes: the scorer's time divided by one forward+backward (input-gradient)
    pass over the same images. Goal ≤ 2.5 (the floor is 1 + Lf ≈ 2.2).
Pairs alternate (`common.paired`); each value is the median of the pair ratios.

    .venv/bin/python benchmarks/sparse_fgsm.py [--images 2000] [--repeats 3]
"""
import sys

import torch

import corelib as cl
from common import finish, paired, result, setup
from corelib.attacks import SparseFGSM, input_gradient
from corelib.models import eval_mode
from corelib.sensitivity import sparse_probabilities


def per_k_reference(model, x, y, ks, eps, batch_size):
    """The paper's procedure: for each k, a fresh gradient, the attack, and a forward pass."""
    out = []
    with eval_mode(model):
        for s in range(0, len(x), batch_size):
            xb, yb = x[s:s + batch_size], y[s:s + batch_size]
            with torch.no_grad():
                levels = [model(xb).softmax(1)]
            for k in ks:
                x_adv = SparseFGSM(k=k, eps=eps)(model, xb, yb)
                with torch.no_grad():
                    levels.append(model(x_adv).softmax(1))
            out.append(torch.stack(levels, 1))
    return torch.cat(out)


def gradient_pass(model, x, y, batch_size):
    with eval_mode(model):
        for s in range(0, len(x), batch_size):
            input_gradient(model, x[s:s + batch_size], y[s:s + batch_size])


def forward_pass(model, x, batch_size):
    with torch.inference_mode():
        for s in range(0, len(x), batch_size):
            model(x[s:s + batch_size])



def main():
    args, device, profile, pool = setup(__doc__, images=2000)
    model = cl.build_model(profile["model"], device=device).eval()
    ks, eps, bs = profile["sparse_ks"], profile["sparse_eps"], profile["score_batch_size"]
    x = pool.float_images().contiguous(memory_format=torch.channels_last)
    y = pool.labels

    ours = sparse_probabilities(model, pool, ks, eps, batch_size=bs)
    reference = per_k_reference(model, x, y, ks, eps, bs)
    assert torch.allclose(ours, reference.cpu(), atol=1e-5), "the scorers disagree"

    a = paired(lambda: per_k_reference(model, x, y, ks, eps, bs),
               lambda: sparse_probabilities(model, pool, ks, eps, batch_size=bs), args.repeats, device)
    b = paired(lambda: sparse_probabilities(model, pool, ks, eps, batch_size=bs),
               lambda: gradient_pass(model, x, y, bs), args.repeats, device)
    c = paired(lambda: forward_pass(model, x, bs), lambda: gradient_pass(model, x, y, bs), args.repeats, device)
    f, L = c["ratio"], len(ks)  # a forward pass in units of an input-gradient pass
    print(f"model {profile['model']}; {args.images} images; k = {ks}; {args.repeats} timed pairs each")
    print(f"one input-gradient pass:                {b['b']:6.2f} s")
    print(f"one forward pass:                       {c['a']:6.2f} s   (f = {f:.2f} gradient passes)")
    print(f"multi-k scorer (one gradient, stacked): {a['b']:6.2f} s")
    print(f"per-k reference (gradient per k):       {a['a']:6.2f} s   (outputs agree to 1e-5)")
    print(f"cost-model ceiling of (a): {(L + (L + 1) * f) / (1 + L * f):.2f}x; floor of (b): {1 + L * f:.2f}")
    result("sparse_speedup_vs_perk", a["ratio"], ">=2")
    result("sparse_scorer_gradient_passes", b["ratio"], "<=2.5")
    return finish()


if __name__ == "__main__":
    sys.exit(main())
