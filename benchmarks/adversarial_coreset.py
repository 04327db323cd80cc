"""Speed-up of adversarial coreset training (Algorithm 1 of Dolatabadi, Erfani & Leckie) over full adversarial
training with the same objective, epochs and schedule, measured in one run on one pool.

RESULT acs_speedup: the wall-time speed-up at the coreset fraction (goal ≥ 1.8× at 50 %); RESULT
acs_robust_delta_pts: the PGD-10 robust-accuracy difference, coreset − full (goal ≥ −3 points). Also prints the
share of the coreset run spent selecting and the cost model's prediction E / (W + (E − K)·k + R·s) (K = ⌊κE⌋,
W = round(K·k), R renewals) with the measured per-renewal selection cost s (in full epochs).

The two runs alternate (full, coreset, coreset, full, …) and the speed-up is the median of the per-pair ratios, so
a drift in the host's speed does not favour either.

The default κ = 0.05 is the smallest that gives the 40-epoch run one warm-start epoch at k = 0.5 (K = 2, W = 1);
κ = 0.025 (K = 1, W = round(0.5) = 0) would skip epoch 0 and pick the first coreset with the untrained model.

    .venv/bin/python benchmarks/adversarial_coreset.py [--images 2000] [--epochs 40] [--period 20] [--repeats 2]
"""
import statistics
import sys
import time

import corelib as cl
from common import finish, ratio_summary, result, result_paired, setup
from corelib import adversarial_coreset as acs


def options(parser):
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--fraction", type=float, default=0.5)
    parser.add_argument("--solver", default="craig", choices=["craig", "gradmatch", "random"])
    parser.add_argument("--objective", default="pgd", choices=["pgd", "trades", "fgsm_rs"])
    parser.add_argument("--steps", type=int, default=3, help="attack steps of the training objective")
    parser.add_argument("--warm-start", type=float, default=0.05,
                        help="κ: coresets from epoch ⌊κE⌋, after round(⌊κE⌋·k) warm-start epochs on the full data "
                             "(0.05 at E = 40, k = 0.5: one warm-start epoch, one skipped)")
    parser.add_argument("--period", type=int, default=20, help="T: renew the coreset every T epochs")
    parser.add_argument("--test-images", type=int, default=1000)


def main():
    args, device, settings, pool = setup(__doc__, images=2000, repeats=2, extra=options)
    eps = settings.evaluation.eps_255 / 255
    params = {"eps": eps} if args.objective == "fgsm_rs" else {"eps": eps, "alpha": 2.5 * eps / args.steps,
                                                                 "steps": args.steps}
    config = cl.TrainConfig(epochs=args.epochs, lr=settings.base.lr, batch_size=settings.base.batch_size,
                            warmup_epochs=settings.base.warmup_epochs, weight_decay=settings.base.weight_decay,
                            objective=args.objective, objective_params=params)
    test = cl.class_balanced_pool(cl.load_cifar10("test", device=device), args.test_images, seed=0)
    attack = cl.PGD(eps=eps, alpha=2 / 255, steps=10, seed=0)
    runs, seconds = {}, {"full": [], args.solver: []}
    order = [m for r in range(args.repeats) for m in (("full", args.solver) if r % 2 == 0 else (args.solver, "full"))]
    for method in order:
        start = time.perf_counter()
        result_ = acs.train_adversarial_coreset(settings.data.model_name, pool, config, method, args.fraction,
                                                acs.Schedule(args.warm_start, args.period), seed=0)
        seconds[method].append(time.perf_counter() - start)
        if method in runs:
            continue  # same seed, same model: evaluate once
        table = result_.tables.get("coreset")
        runs[method] = {"select": 0.0 if table is None else float(table["seconds"].sum()),
                        "renewals": 0 if table is None else len(table), "clean": cl.accuracy(result_.model, test),
                        "robust": cl.robust_accuracy(result_.model, test, attack)}
    for method, times in seconds.items():
        runs[method]["seconds"] = statistics.median(times)
    full, core = runs["full"], runs[args.solver]
    speedup = ratio_summary([f / c for f, c in zip(seconds["full"], seconds[args.solver])])
    s = core["select"] / max(core["renewals"], 1) / (full["seconds"] / args.epochs)
    predicted = acs.speedup_model(args.epochs, args.fraction, args.warm_start, args.period, s)
    print(f"model {settings.data.model_name}; {args.images} images; "
          f"{args.objective} ({args.steps} steps), {args.epochs} epochs; {args.solver} at {100 * args.fraction:g} %, "
          f"κ = {args.warm_start}, T = {args.period}, {core['renewals']} renewals; {args.repeats} pairs")
    for name, r in runs.items():
        print(f"{name:>10}: {r['seconds']:7.1f} s, clean {100 * r['clean']:5.1f} %, PGD-10 {100 * r['robust']:5.1f} %")
    print(f"speed-up over full adversarial training: {speedup['ratio']:.2f}x   (goal >= 1.8x at 50 %)")
    print(f"robust-accuracy difference: {100 * (core['robust'] - full['robust']):+.1f} points   (goal: within 3)")
    print(f"share of the coreset run spent selecting: {100 * core['select'] / core['seconds']:.1f} %  "
          f"(s = {s:.2f} full epochs per renewal)")
    print(f"cost model prediction: {predicted:.2f}x; the ceiling 1/f at this fraction: {1 / args.fraction:.2f}x")
    result_paired("acs_speedup", speedup, ">=1.8")
    result("acs_robust_delta_pts", 100 * (core["robust"] - full["robust"]), ">=-3")
    return finish()


if __name__ == "__main__":
    sys.exit(main())
