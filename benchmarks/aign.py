"""Overhead of in-training AIGN tracking (EasyCore hardness) over plain training, measured in one run.

Same model (the ci profile's), same images, same settings; the two runs alternate (`common.paired`) and the
median of the pair ratios is reported: RESULT aign_overhead (tracked / plain − 1), goal ≤ 0.10. Also prints the cost of one exact (separate, eval-mode) AIGN pass
relative to one training epoch.

    .venv/bin/python benchmarks/aign.py [--images 5000] [--epochs 1] [--repeats 3]
"""
import sys
import time

import corelib as cl
from common import finish, paired, result_paired, setup, spread
from corelib.easycore import AIGN, input_gradient_norms


def run(pool, config, model_name, hooks):
    model = cl.build_model(model_name, device=pool.device)
    start = time.perf_counter()
    cl.train(model, pool, config, hooks=hooks)
    return time.perf_counter() - start, model


def main():
    args, device, settings, pool = setup(__doc__, images=5000,
                                        extra=lambda p: p.add_argument("--epochs", type=int, default=1))
    config = cl.TrainConfig(epochs=args.epochs, lr=settings.base.lr, batch_size=settings.base.batch_size,
                            weight_decay=settings.base.weight_decay, progress=False)
    models = {}

    def tracked():
        models["tracked"] = run(pool, config, settings.data.model_name, [AIGN("in_training")])[1]

    overhead = lambda ratio: ratio - 1  # noqa: E731
    r = paired(tracked, lambda: run(pool, config, settings.data.model_name, []), args.repeats, device,
               goal="<=0.10", value=overhead)
    start = time.perf_counter()
    input_gradient_norms(models["tracked"], pool)
    exact = time.perf_counter() - start
    print(f"model {settings.data.model_name}; {args.images} images × {args.epochs} epoch(s); {r['n']} timed pairs")
    print(f"plain training:               {r['b']:6.2f} s")
    print(f"with in-training AIGN:        {r['a']:6.2f} s   (pair ratios {[round(v, 3) for v in r['ratios']]}; overhead {spread(r, overhead)})")
    print(f"one exact AIGN pass:          {exact:6.2f} s = {exact / (r['b'] / args.epochs):.2f} training epochs")
    result_paired("aign_overhead", r, "<=0.10", overhead)
    return finish()


if __name__ == "__main__":
    sys.exit(main())
