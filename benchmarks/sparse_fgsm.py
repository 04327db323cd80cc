"""Sparse FGSM scoring speed, measured in one run on the same model and images.

(a) the one-gradient multi-k scorer (`corelib.sensitivity.sparse_probabilities`: one input gradient,
    one top-k, prefix masks, one stacked forward) against a per-k reference that, as the paper
    describes, computes a fresh gradient and a forward pass for each k.   Goal: ≥ 3×.
(b) the scorer's time divided by one forward+backward (input-gradient) pass over the same images.
    Goal: ≤ 2.5 (the floor is about 2: one gradient pass plus forward passes over four levels).

    .venv/bin/python benchmarks/sparse_fgsm.py [--images 2000] [--repeats 3]
"""
import time

import torch

import corelib as cl
from common import setup
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


def best_of(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main():
    args, device, profile, pool = setup(__doc__, images=2000)
    model = cl.build_model(profile["model"], device=device).eval()
    ks, eps, bs = profile["sparse_ks"], profile["sparse_eps"], profile["score_batch_size"]
    x = pool.float_images().contiguous(memory_format=torch.channels_last)
    y = pool.labels

    ours = sparse_probabilities(model, pool, ks, eps, batch_size=bs)
    reference = per_k_reference(model, x, y, ks, eps, bs)
    assert torch.allclose(ours, reference.cpu(), atol=1e-5), "the scorers disagree"

    t_ours = best_of(lambda: sparse_probabilities(model, pool, ks, eps, batch_size=bs), args.repeats)
    t_ref = best_of(lambda: per_k_reference(model, x, y, ks, eps, bs), args.repeats)
    t_grad = best_of(lambda: gradient_pass(model, x, y, bs), args.repeats)
    t_fwd = best_of(lambda: forward_pass(model, x, bs), args.repeats)
    f = t_fwd / t_grad  # a forward pass in units of an input-gradient pass
    print(f"device: {cl.device_description(device)}; model {profile['model']}; {args.images} images; k = {ks}; "
          f"best of {args.repeats}")
    print(f"one input-gradient pass:                {t_grad:6.2f} s")
    print(f"one forward pass:                       {t_fwd:6.2f} s   (f = {f:.2f} gradient passes)")
    print(f"multi-k scorer (one gradient, stacked): {t_ours:6.2f} s")
    print(f"per-k reference (gradient per k):       {t_ref:6.2f} s   (outputs agree to 1e-5)")
    L = len(ks)
    print(f"(a) speed-up of the multi-k scorer over per-k: {t_ref / t_ours:.2f}x   (goal >= 3; "
          f"the most this cost model allows is ({L} + {L + 1}f) / (1 + {L}f) = {(L + (L + 1) * f) / (1 + L * f):.2f}x)")
    print(f"(b) scorer time / one forward+backward pass:   {t_ours / t_grad:.2f}    (goal <= 2.5; "
          f"floor 1 + {L}f = {1 + L * f:.2f})")


if __name__ == "__main__":
    main()
