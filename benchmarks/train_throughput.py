"""Training throughput: corelib's trainer against a plain torchvision DataLoader + transforms loop.

Same model (the ci profile's), same optimiser settings, same images, same augmentation (4-pixel
random crop, horizontal flip), same thread count (`--threads`, default one per core), measured in one run,
alternating the two loops (`common.paired`). RESULT trainer_vs_torchvision: the time ratio corelib / torchvision,
median of the pair ratios; goal ≤ 1.0.

bf16 on this CPU (`TrainConfig(precision="bf16")`: `torch.autocast("cpu", dtype=torch.bfloat16)` around the training
steps). These lines decide whether bf16 becomes the `ci` profile's precision; they are adoption rules, not goals
the code owes, so they never fail `make bench` (see common.py):
- RESULT bf16_vs_fp32_train: speed-up of a bf16 training epoch over fp32 (paired); adopted where ≥ 1.4. The script
  prints whether this CPU has native bf16 (`avx512_bf16` / `amx_bf16`): without it oneDNN emulates bf16.
- RESULT bf16_vs_fp32_pgd: the same for PGD-10 on 500 images under autocast (attacks and evaluation); adopted for
  them where ≥ 1.4 (the input gradients of the scores stay fp32 in any case).
- RESULT bf16_accuracy_delta_pts / bf16_robust_delta_pts: the ci model trained in both precisions from the same
  seeds (`--accuracy-seeds`, default 3) on `--accuracy-images` images of the ci train pool for `--accuracy-epochs`
  epochs (defaults 2,500 and 8: with emulated bf16 the full ci base model would take ~25 min per seed); |paired mean
  difference bf16 − fp32| of clean test accuracy and of PGD-10 accuracy (8/255, 500 test images), in points;
  adopted where ≤ 0.5 points over the whole 95 % t-interval of the paired mean (inconclusive, so not adopted, where
  the interval reaches beyond). Evaluation and attacks run in fp32 in both. `--accuracy-seeds 0` skips this part.

    .venv/bin/python benchmarks/train_throughput.py [--images 5000] [--repeats 2] [--workers 0]
"""
import math
import sys
import time
from dataclasses import replace

import pandas as pd
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

import corelib as cl
from common import finish, paired, result, result_paired, setup, spread
from corelib.experiments import paired_gap


class PILCifar(Dataset):
    """What torchvision's CIFAR10 does per item: HWC uint8 array → PIL image → transforms."""

    def __init__(self, images_nchw: torch.Tensor, labels: torch.Tensor, transform):
        self.data = images_nchw.permute(0, 2, 3, 1).cpu().numpy()
        self.targets = labels.cpu().tolist()
        self.transform = transform

    def __len__(self):
        return len(self.targets)

    def __getitem__(self, i):
        return self.transform(Image.fromarray(self.data[i])), self.targets[i]


def torchvision_epoch(model, dataset, config, workers):
    loader = DataLoader(dataset, batch_size=config.batch_size, shuffle=True, num_workers=workers)
    opt = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum, nesterov=config.nesterov,
                          weight_decay=config.weight_decay)
    model.train()
    start = time.perf_counter()
    for x, y in loader:
        x = x.contiguous(memory_format=torch.channels_last)
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return time.perf_counter() - start


def corelib_epoch(model, pool, config):
    start = time.perf_counter()
    cl.train(model, pool, config)
    return time.perf_counter() - start


def options(parser):
    parser.add_argument("--workers", type=int, default=0, help="DataLoader workers for the torchvision loop")
    parser.add_argument("--accuracy-seeds", type=int, default=3, help="seeds of the bf16 accuracy check (0: skip)")
    parser.add_argument("--accuracy-images", type=int, default=2500, help="train images of the bf16 accuracy check")
    parser.add_argument("--accuracy-epochs", type=int, default=8, help="epochs of the bf16 accuracy check")


def base_accuracy(settings, device, precision: str, seed: int, images: int, epochs: int) -> tuple[float, float]:
    """Clean and PGD-10 accuracy of the ci model trained in `precision` on `images` images for `epochs` epochs."""
    train_pool, test_pool = cl.load_pools(images, settings.data.test_size, settings.data.pool_seed, device=device)
    config = cl.TrainConfig(epochs=epochs, lr=settings.base.lr, batch_size=settings.base.batch_size,
                            warmup_epochs=settings.base.warmup_epochs, weight_decay=settings.base.weight_decay,
                            seed=seed, precision=precision, progress=False)
    model = cl.fit(settings.data.model_name, train_pool, config).model
    robust_pool = cl.class_balanced_pool(test_pool, 500, seed=0)
    pgd = cl.PGD(settings.evaluation.eps_255 / 255, settings.evaluation.pgd_alpha_255 / 255, 10, seed=seed)
    return cl.accuracy(model, test_pool), cl.robust_accuracy(model, robust_pool, pgd)


def absolute(low: float, high: float) -> tuple[float, float]:
    """The range of |x| over [low, high] (an interval from one seed, NaN, is all of it): the interval the adoption
    rule |mean| ≤ 0.5 is decided on."""
    if math.isnan(low) or math.isnan(high):
        low, high = -math.inf, math.inf
    return (0.0 if low <= 0 <= high else min(abs(low), abs(high))), max(abs(low), abs(high))


def main():
    args, device, settings, pool = setup(__doc__, images=5000, repeats=2, extra=options)
    config = cl.TrainConfig(epochs=1, lr=settings.base.lr, batch_size=settings.base.batch_size,
                            weight_decay=settings.base.weight_decay, schedule="constant", progress=False)
    augment = transforms.Compose([transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip(),
                                  transforms.ToTensor()])
    dataset = PILCifar(pool.images, pool.labels, augment)
    r = paired(lambda: corelib_epoch(cl.build_model(settings.data.model_name, device=device), pool, config),
               lambda: torchvision_epoch(cl.build_model(settings.data.model_name, device=device), dataset, config, args.workers),
               args.repeats, device, goal="<=1.0")
    print(f"model {settings.data.model_name}; {args.images} images; {torch.get_num_threads()} threads; {r['n']} timed "
          f"pairs after a warm-up pair; median ratio {spread(r)}")
    print(f"torchvision DataLoader + PIL transforms ({args.workers} workers): {args.images / r['b']:7.0f} images/s")
    print(f"corelib trainer (tensors on the device, batched augmentation): {args.images / r['a']:7.0f} images/s")
    result_paired("trainer_vs_torchvision", r, "<=1.0")

    bf16, fp32 = replace(config, precision="bf16"), replace(config, precision="fp32")
    native = cl.utils.cpu_has_native_bf16() if device.type == "cpu" else True
    print(f"native bf16 on this {'CPU' if device.type == 'cpu' else 'device'}: {'yes' if native else 'no (emulated)'}")
    r = paired(lambda: corelib_epoch(cl.build_model(settings.data.model_name, device=device), pool, fp32),
               lambda: corelib_epoch(cl.build_model(settings.data.model_name, device=device), pool, bf16), args.repeats, device,
               goal=">=1.4")
    print(f"training epoch: fp32 {r['a']:.2f} s, bf16 autocast {r['b']:.2f} s; pair ratios "
          f"{[round(v, 3) for v in r['ratios']]}")
    result_paired("bf16_vs_fp32_train", r, ">=1.4", adopts="bf16 as the ci precision")

    model = cl.build_model(settings.data.model_name, device=device).eval()
    x, y = pool.float_images(torch.arange(500, device=device)), pool.labels[:500]
    pgd = cl.PGD(settings.evaluation.eps_255 / 255, settings.evaluation.pgd_alpha_255 / 255, 10, seed=0)

    def attack(bf16: bool):
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            pgd(model, x, y)

    r = paired(lambda: attack(False), lambda: attack(True), args.repeats, device, goal=">=1.4")
    print(f"PGD-10 on 500 images: fp32 {r['a']:.2f} s, bf16 autocast {r['b']:.2f} s; pair ratios "
          f"{[round(v, 3) for v in r['ratios']]}")
    result_paired("bf16_vs_fp32_pgd", r, ">=1.4",
                  adopts="bf16 for attacks and evaluation (by speed alone: a bf16 attack's strength is not checked here)")
    if args.accuracy_seeds:
        points = {"fp32": [], "bf16": []}  # (clean, PGD-10) in points, per seed
        print(f"accuracy check: {args.accuracy_images:,} train images, {args.accuracy_epochs} epochs, "
              f"{args.accuracy_seeds} seeds")
        for seed in range(args.accuracy_seeds):
            a32, a16 = (base_accuracy(settings, device, precision, seed, args.accuracy_images, args.accuracy_epochs)
                        for precision in ("fp32", "bf16"))
            points["fp32"].append((100 * a32[0], 100 * a32[1]))
            points["bf16"].append((100 * a16[0], 100 * a16[1]))
            print(f"seed {seed}: fp32 clean {100 * a32[0]:.1f} % / PGD-10 {100 * a32[1]:.1f} %; bf16 clean "
                  f"{100 * a16[0]:.1f} % / PGD-10 {100 * a16[1]:.1f} %")
        gaps = [paired_gap(*(pd.Series([p[i] for p in points[name]]) for name in ("bf16", "fp32"))) for i in (0, 1)]
        for name, gap in zip(("bf16_accuracy_delta_pts", "bf16_robust_delta_pts"), gaps):
            result(name, abs(gap["diff"]), "<=0.5", adopts="bf16 as the ci precision",
                   interval=absolute(gap["low"], gap["high"]))
        print("paired mean difference bf16 − fp32 (95 % t-intervals): " + ", ".join(
            f"{what} {g['diff']:+.2f} points [{g['low']:+.2f}, {g['high']:+.2f}]" for what, g in zip(("clean", "PGD-10"), gaps)))
    return finish()


if __name__ == "__main__":
    sys.exit(main())
