"""Selection cost of every method in corelib.methods relative to one training epoch of the same model on the
same pool, measured in one run (the proxy's own training, shared by all methods, is reported separately); and
`craig_busy_vs_quiet`: CRAIG's selection time while another process keeps one core busy, over its time on a quiet
machine (pairs alternate busy / quiet; goal ≤ 3: the greedy loops run on one thread, so a neighbour does not make
their thousands of tiny operations wait for a second thread).

    .venv/bin/python benchmarks/selection_cost.py [--images 2000] [--fraction 0.1] [--methods all] [--repeats 3]
"""
import statistics
import subprocess
import sys
import time

import pandas as pd
import torch

import corelib as cl
from common import finish, ratio_summary, result_paired, setup, timed


def options(parser):
    parser.add_argument("--fraction", type=float, default=0.1)
    parser.add_argument("--selection-epochs", type=int, default=2)
    parser.add_argument("--methods", nargs="+", default=["all"])


def main():
    args, device, settings, pool = setup(__doc__, images=2000, repeats=3, extra=options)
    methods = sorted(cl.methods.METHODS) if args.methods == ["all"] else args.methods
    proxy = cl.methods.train_proxy(settings.data.model_name, pool, args.selection_epochs, seed=0,
                                   config=cl.TrainConfig(lr=settings.base.lr, batch_size=settings.base.batch_size,
                                                         weight_decay=settings.base.weight_decay))
    config = cl.TrainConfig(epochs=1, lr=settings.base.lr, batch_size=settings.base.batch_size, progress=False)
    model = cl.build_model(settings.data.model_name, device=device)
    start = time.perf_counter()
    cl.train(model, pool, config)
    epoch = time.perf_counter() - start
    # what the benchmark grid hands methods that need more than the proxy: dyn_unc_adv trains its adversarial twin
    # with the adversarial track's attack (the ci profile's FGSM-RS at its ε)
    own = {"dyn_unc_adv": {"objective": settings.benchmark.adv_objective,
                           "objective_params": {"eps": settings.evaluation.eps}}}
    rows = []
    for method in methods:
        sel = cl.methods.select_coreset(method, proxy, args.fraction, seed=0, **own.get(method, {}))
        rows.append({"method": method, "seconds": sel.seconds, "epochs": sel.seconds / epoch,
                     "forward_passes": sel.config["forward_passes"], "backward_passes": sel.config["backward_passes"]})
    table = pd.DataFrame(rows).sort_values("epochs").set_index("method")
    print(f"device: {cl.device_description(device)}; model {settings.data.model_name}; {args.images} images; coreset "
          f"{100 * args.fraction:g} %; one training epoch = {epoch:.2f} s; proxy ({args.selection_epochs} epochs) = "
          f"{proxy.seconds:.1f} s = {proxy.seconds / epoch:.2f} epochs")
    print(table.round(3).to_string())

    def craig():
        cl.methods.select_coreset("craig", proxy, args.fraction, seed=0)

    craig()  # warm-up
    quiet, busy = [], []
    for i in range(args.repeats):  # alternate quiet / busy, the order flipped every pair
        for phase in (("quiet", "busy") if i % 2 == 0 else ("busy", "quiet")):
            if phase == "quiet":
                quiet.append(timed(craig))
                continue
            spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
            try:
                time.sleep(0.3)  # let it take its core
                busy.append(timed(craig))
            finally:
                spinner.kill()
                spinner.wait()
    ratios = [b / q for b, q in zip(busy, quiet)]
    print(f"CRAIG selection ({args.images} images, {100 * args.fraction:g} %, {torch.get_num_threads()} torch threads): "
          f"quiet {statistics.median(quiet):.2f} s, one core busy {statistics.median(busy):.2f} s; pair ratios "
          f"{[round(v, 2) for v in ratios]}")
    result_paired("craig_busy_vs_quiet", ratio_summary(ratios), "<=3")
    return finish()


if __name__ == "__main__":
    sys.exit(main())
