"""An independent cross-check of the book's robust numbers: corelib's AutoAttack (torchattacks' APGD-CE and APGD-T,
per-image worst case) against the Adversarial Robustness Toolbox's (ART, IBM) implementations of the same attacks,
on the same trained models, the same images and the same budgets.

The models follow the recorded protocol (`profiles/cpu_full.yaml`: the 10,000-image class-balanced pool, the
small CNN, 15 epochs of coreset training with at least 100 steps, the robust set of 500 class-balanced test images):
one trained with cross-entropy on a random 30 % coreset, two trained adversarially (FGSM with a random start,
ε = 8/255) on random 10 % and 30 % coresets. Each is evaluated three ways, ε = 8/255 ℓ∞:

- `corelib`: `corelib.attacks.AutoAttack` as the recorded tier runs it (`autoattack_version`, `_steps`,
  `_targets` of the profile: APGD-CE, then APGD-T on the top `targets` classes, each on the images still robust);
- `art_matched`: the same ensemble built from ART's `AutoProjectedGradientDescent` (APGD-CE untargeted, then
  targeted APGD with ART's DLR loss towards the same top-`targets` classes of the clean logits; one random start,
  the same iteration count, initial step 2ε as AutoAttack's), the same per-image worst case;
- `art_autoattack`: ART's own `AutoAttack` class with APGD-CE and APGD-DLR, untargeted and then targeted at every
  other class (a strictly larger search than the matched one, for scale).

Printed per model: the three robust accuracies (%), corelib − ART, and the share of images on which the two verdicts
(robust or not) disagree. `RESULT art_crosscheck_max_gap` is the largest |corelib − art_matched| over the three
models in points; goal ≤ 1. ART is not a dependency of corelib: `pip install -e '.[crosscheck]'`.

    .venv/bin/python benchmarks/crosscheck_art.py [--steps 10] [--targets 3] [--images 10000] [--robust 500]
"""
import sys
from dataclasses import replace

import numpy as np
import torch

import corelib as cl
from common import finish, result
from corelib.experiments.base import autoattack_for, profile_pools
from corelib.experiments.benchmark import coreset_training
from corelib.experiments.training import coreset_config
from corelib.profiles import load_profile
from corelib.sampling import coreset_size

MODELS = (("standard", 0.3), ("fgsm_rs", 0.1), ("fgsm_rs", 0.3))


def parse():
    import argparse

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    profile = load_profile("cpu_full")
    parser.add_argument("--steps", type=int, default=profile["autoattack_steps"], help="APGD iterations per attack")
    parser.add_argument("--targets", type=int, default=profile["autoattack_targets"], help="APGD-T target classes")
    parser.add_argument("--images", type=int, default=profile["bench_pool_size"], help="the training pool")
    parser.add_argument("--robust", type=int, default=profile["bench_robust_size"], help="images attacked")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None)
    return parser.parse_args()


def trained(settings, pool, track: str, fraction: float, seed: int):
    """A model trained as the recorded tier trains a random coreset of `fraction` of the pool in `track`."""
    adversarial = track != "standard"
    s = settings.replace(bench_track="adversarial" if adversarial else "standard")
    b = s.benchmark
    size = coreset_size(len(pool), fraction)
    config = replace(coreset_config(coreset_training(s), size, b.epochs, b.min_steps), seed=seed, progress=False)
    subset = cl.random_selection(pool, fraction, seed, True).indices
    return cl.fit(s.data.model_name, pool, config, subset=subset).model.eval()


def art_classifier(model):
    from art.estimators.classification import PyTorchClassifier

    return PyTorchClassifier(model=model, loss=torch.nn.CrossEntropyLoss(), input_shape=(3, 32, 32), nb_classes=10,
                             clip_values=(0.0, 1.0), device_type="cpu")


def art_apgd(classifier, eps, steps, loss, targeted=False):
    from art.attacks.evasion import AutoProjectedGradientDescent

    return AutoProjectedGradientDescent(classifier, norm=np.inf, eps=eps, eps_step=2 * eps, max_iter=steps,
                                        targeted=targeted, nb_random_init=1, batch_size=500, loss_type=loss,
                                        verbose=False)


def art_matched(model, x, y, eps, steps, targets, seed):
    """APGD-CE, then targeted APGD (ART's DLR loss) at the top-`targets` other classes of the clean logits, each on
    the images every earlier attack left robust; returns the per-image robust verdicts."""
    np.random.seed(seed)
    classifier = art_classifier(model)
    xs, ys = x.numpy(), y.numpy()
    with torch.no_grad():
        logits = model(x)
    robust = (logits.argmax(1) == y).numpy()
    order = logits.sort(1, descending=True).indices.numpy()
    runs = [(art_apgd(classifier, eps, steps, "cross_entropy"), None)]
    runs += [(art_apgd(classifier, eps, steps, "difference_logits_ratio", targeted=True), k) for k in range(1, targets + 1)]
    for attack, k in runs:
        todo = robust.nonzero()[0]
        if not len(todo):
            break
        labels = ys[todo] if k is None else order[todo, k]  # the k-th most likely class (never y: it is robust)
        adv = attack.generate(xs[todo], np.eye(10, dtype=np.float32)[labels])
        fooled = classifier.predict(adv, batch_size=500).argmax(1) != ys[todo]
        robust[todo[fooled]] = False
    return robust


def art_autoattack(model, x, y, eps, steps, seed):
    from art.attacks.evasion import AutoAttack as ArtAutoAttack

    np.random.seed(seed)
    classifier = art_classifier(model)
    attacks = [art_apgd(classifier, eps, steps, "cross_entropy"), art_apgd(classifier, eps, steps,
                                                                           "difference_logits_ratio")]
    attack = ArtAutoAttack(classifier, norm=np.inf, eps=eps, eps_step=2 * eps, attacks=attacks, batch_size=500,
                           targeted=True)
    adv = attack.generate(x.numpy(), np.eye(10, dtype=np.float32)[y.numpy()])
    return classifier.predict(adv, batch_size=500).argmax(1) == y.numpy()


def main():
    args = parse()
    try:
        import art
    except ImportError:
        print("error: the cross-check needs the Adversarial Robustness Toolbox; pip install -e '.[crosscheck]'")
        return 2
    torch.set_num_threads(args.threads or torch.get_num_threads())
    settings = cl.Settings.from_mapping({**load_profile("cpu_full"), "bench_pool_size": args.images,
                                         "bench_robust_size": args.robust, "device": "cpu", "seed": args.seed,
                                         "autoattack_steps": args.steps, "autoattack_targets": args.targets})
    train_pool, test_pool = profile_pools(settings.data)
    pool = cl.class_balanced_pool(train_pool, args.images, seed=settings.data.pool_seed)
    robust_pool = cl.class_balanced_pool(test_pool, args.robust, seed=settings.data.pool_seed)
    x, y = robust_pool.float_images(slice(0, len(robust_pool))).contiguous(), robust_pool.labels
    eps = settings.evaluation.eps
    print(f"ART {art.__version__}; torch {torch.__version__}, {torch.get_num_threads()} threads; pool {len(pool)}, "
          f"{len(x)} robust images; ε = 8/255; APGD {args.steps} iterations, {args.targets} targets, seed {args.seed}")
    gaps = []
    print(f"{'model':<22} {'clean':>6} {'corelib':>8} {'art_matched':>12} {'art_autoattack':>15} {'gap':>6} "
          f"{'disagree':>9}")
    for track, fraction in MODELS:
        model = trained(settings, pool, track, fraction, args.seed)
        with torch.no_grad():
            clean = float((model(x).argmax(1) == y).float().mean())
        ours_attack = autoattack_for(settings)  # the tier's AutoAttack (its version), with these steps and targets
        adv = ours_attack(model, x, y)
        with torch.no_grad():
            ours = (model(adv).argmax(1) == y).numpy()
        matched = art_matched(model, x, y, eps, args.steps, args.targets, args.seed)
        full = art_autoattack(model, x, y, eps, args.steps, args.seed)
        gap = 100 * (ours.mean() - matched.mean())
        gaps.append(abs(gap))
        print(f"{track + f' random {fraction:.0%}':<22} {100 * clean:6.1f} {100 * ours.mean():8.1f} "
              f"{100 * matched.mean():12.1f} {100 * full.mean():15.1f} {gap:+6.1f} "
              f"{100 * (ours != matched).mean():8.1f}%   checks: {ours_attack.checks()}")
    result("art_crosscheck_max_gap", max(gaps), "<=1.0")
    return finish()


if __name__ == "__main__":
    sys.exit(main())
