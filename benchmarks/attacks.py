"""Attack speed against torchattacks, the library users would otherwise pick, on the same model and images.

- `pgd_vs_torchattacks`: robust accuracy under PGD-10 (ℓ∞, ε = 8/255, α = 2/255, random start), our
  `corelib.evaluate.robust_accuracy` with `corelib.attacks.PGD` against the same loop with torchattacks' PGD.
  Time ratio ours / theirs; goal ≤ 1.0. Both start from a random point, so their predictions are compared at
  `random_start=False` (they must agree to 1e-6).
- `fgsm_sweep_vs_torchattacks`: FGSM accuracy at the 7 ε of the book's sweep, `corelib.evaluate.fgsm_sweep` (one
  input gradient for all ε) against torchattacks' FGSM once per ε. Time ratio; goal ≤ 0.5.

    .venv/bin/python benchmarks/attacks.py [--images 2000] [--repeats 5] [--batch-size 500]
"""
import sys

import torch
import torchattacks

import corelib as cl
from common import finish, paired, result_paired, setup, spread
from corelib.attacks import PGD
from corelib.evaluate import SWEEP_EPS_255, fgsm_sweep, robust_accuracy


def torchattacks_accuracy(model, pool, attack, batch_size):
    """robust_accuracy's loop with a torchattacks attack: batches in pool order, eval mode."""
    correct = 0
    model.eval()
    for x, y in cl.data.pool_batches(pool, batch_size):
        x_adv = attack(x, y)
        with torch.no_grad():
            correct += (model(x_adv).argmax(1) == y).sum().item()
    return correct / len(pool)


def trained_model(settings, pool, device):
    """The ci model after two epochs on the pool: attacks behave as on a real model (gradients not all tiny)."""
    model = cl.build_model(settings.data.model_name, device=device)
    cl.train(model, pool, cl.TrainConfig(epochs=2, lr=settings.base.lr, batch_size=settings.base.batch_size,
                                         progress=False))
    return model.eval()


def main():
    args, device, settings, pool = setup(__doc__, images=2000, repeats=5, extra=lambda p: p.add_argument(
        "--batch-size", type=int, default=500))
    model = trained_model(settings, pool, device)
    bs = args.batch_size
    x, y = pool.float_images(slice(0, bs)), pool.labels[:bs]
    ours = PGD(8 / 255, 2 / 255, 10, random_start=False)(model, x, y)
    theirs = torchattacks.PGD(model, eps=8 / 255, alpha=2 / 255, steps=10, random_start=False)(x, y)
    gap = float((ours - theirs).abs().max())
    assert gap < 1e-6, f"PGD disagrees with torchattacks by {gap}"
    print(f"model {settings.data.model_name} (2 epochs on the pool); {args.images} images; batch {bs}; {args.repeats} timed "
          f"pairs; PGD without random start agrees with torchattacks to {gap:.1e}")

    pgd = PGD(8 / 255, 2 / 255, 10, seed=0)
    ta_pgd = torchattacks.PGD(model, eps=8 / 255, alpha=2 / 255, steps=10, random_start=True)
    acc = {}
    r = paired(lambda: acc.__setitem__("ours", robust_accuracy(model, pool, pgd, bs)),
               lambda: acc.__setitem__("theirs", torchattacks_accuracy(model, pool, ta_pgd, bs)), args.repeats, device,
               goal="<=1.0")
    print(f"PGD-10: corelib {r['a']:.2f} s (acc {acc['ours']:.3f}), torchattacks {r['b']:.2f} s "
          f"(acc {acc['theirs']:.3f}); pair ratios {[round(v, 3) for v in r['ratios']]}, median {spread(r)}")
    result_paired("pgd_vs_torchattacks", r, "<=1.0")

    eps = [e / 255 for e in SWEEP_EPS_255]

    def theirs_sweep():
        return [torchattacks_accuracy(model, pool, torchattacks.FGSM(model, eps=e), bs) for e in eps]

    sweep = fgsm_sweep(model, pool, eps, bs)["accuracy"].tolist()
    reference = theirs_sweep()
    assert max(abs(a - b) for a, b in zip(sweep, reference)) <= 1 / len(pool), (sweep, reference)
    r = paired(lambda: fgsm_sweep(model, pool, eps, bs), theirs_sweep, args.repeats, device, goal="<=0.5")
    print(f"FGSM sweep over {len(eps)} ε: corelib {r['a']:.2f} s, torchattacks per ε {r['b']:.2f} s "
          "(same accuracies)")
    result_paired("fgsm_sweep_vs_torchattacks", r, "<=0.5")
    return finish()


if __name__ == "__main__":
    sys.exit(main())
