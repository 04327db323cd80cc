"""Training throughput: corelib's trainer against a plain torchvision DataLoader + transforms loop.

Same model (the ci profile's), same optimiser settings, same images, same augmentation (4-pixel
random crop, horizontal flip), same thread count (`--threads`, default one per core), measured in one run,
alternating the two loops (`common.paired`). RESULT trainer_vs_torchvision: the time ratio corelib / torchvision,
median of the pair ratios; goal ≤ 1.0.

bf16 on this CPU (`TrainConfig(amp=True)`: `torch.autocast("cpu", dtype=torch.bfloat16)`):
- RESULT bf16_vs_fp32_train: speed-up of a bf16 training epoch over fp32 (paired), reported against the adoption
  goal ≥ 1.4;
- RESULT bf16_accuracy_delta_pts / bf16_robust_delta_pts: the `ci` base model (the profile's train pool, epochs
  and learning rate) trained in both precisions with `--accuracy-seeds` seeds; paired mean difference bf16 − fp32
  of clean test accuracy and of PGD-10 accuracy (8/255), in points; adoption goal: within 0.5 points.
  `--accuracy-seeds 0` skips this part (it trains 2 × seeds base models: about 25 minutes on 2 cores).

    .venv/bin/python benchmarks/train_throughput.py [--images 5000] [--repeats 2] [--workers 0]
"""
import sys
import time
from dataclasses import replace

import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

import corelib as cl
from common import finish, paired, result, setup


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
    cl.train(model, pool, config, progress=False)
    return time.perf_counter() - start


def options(parser):
    parser.add_argument("--workers", type=int, default=0, help="DataLoader workers for the torchvision loop")
    parser.add_argument("--accuracy-seeds", type=int, default=3, help="seeds of the bf16 accuracy check (0: skip)")


def base_accuracy(profile, device, amp: bool, seed: int) -> tuple[float, float]:
    """Clean and PGD-10 accuracy of the ci base model trained with bf16 autocast on or off."""
    train_pool, test_pool = cl.load_pools(profile["train_size"], profile["test_size"], profile["pool_seed"],
                                          device=device)
    config = cl.TrainConfig(epochs=profile["base_epochs"], lr=profile["base_lr"], batch_size=profile["base_batch_size"],
                            warmup_epochs=profile["base_warmup_epochs"], weight_decay=profile["weight_decay"],
                            seed=seed, amp=amp)
    model = cl.fit(profile["model"], train_pool, config, model_seed=seed, progress=False).model
    robust_pool = cl.class_balanced_pool(test_pool, 500, seed=0)
    pgd = cl.PGD(profile["eps_255"] / 255, profile["pgd_alpha_255"] / 255, 10, seed=seed)
    return cl.accuracy(model, test_pool), cl.robust_accuracy(model, robust_pool, pgd)


def main():
    args, device, profile, pool = setup(__doc__, images=5000, repeats=2, extra=options)
    config = cl.TrainConfig(epochs=1, lr=profile["base_lr"], batch_size=profile["base_batch_size"],
                            weight_decay=profile["weight_decay"], schedule="constant")
    augment = transforms.Compose([transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip(),
                                  transforms.ToTensor()])
    dataset = PILCifar(pool.images, pool.labels, augment)
    r = paired(lambda: corelib_epoch(cl.build_model(profile["model"], device=device), pool, config),
               lambda: torchvision_epoch(cl.build_model(profile["model"], device=device), dataset, config, args.workers),
               args.repeats, device)
    print(f"model {profile['model']}; {args.images} images; {torch.get_num_threads()} threads; {args.repeats} timed "
          "pairs after a warm-up pair")
    print(f"torchvision DataLoader + PIL transforms ({args.workers} workers): {args.images / r['b']:7.0f} images/s")
    print(f"corelib trainer (tensors on the device, batched augmentation): {args.images / r['a']:7.0f} images/s")
    result("trainer_vs_torchvision", r["ratio"], "<=1.0")

    bf16, fp32 = replace(config, amp=True), replace(config, amp=False)
    r = paired(lambda: corelib_epoch(cl.build_model(profile["model"], device=device), pool, fp32),
               lambda: corelib_epoch(cl.build_model(profile["model"], device=device), pool, bf16), args.repeats, device)
    print(f"training epoch: fp32 {r['a']:.2f} s, bf16 autocast {r['b']:.2f} s; pair ratios "
          f"{[round(v, 3) for v in r['ratios']]}")
    result("bf16_vs_fp32_train", r["ratio"], ">=1.4")
    if args.accuracy_seeds:
        deltas = []
        for seed in range(args.accuracy_seeds):
            a32, a16 = base_accuracy(profile, device, False, seed), base_accuracy(profile, device, True, seed)
            deltas.append((100 * (a16[0] - a32[0]), 100 * (a16[1] - a32[1])))
            print(f"seed {seed}: fp32 clean {100 * a32[0]:.1f} % / PGD-10 {100 * a32[1]:.1f} %; bf16 clean "
                  f"{100 * a16[0]:.1f} % / PGD-10 {100 * a16[1]:.1f} %")
        clean, robust = (sum(d[i] for d in deltas) / len(deltas) for i in (0, 1))
        result("bf16_accuracy_delta_pts", abs(clean), "<=0.5")
        result("bf16_robust_delta_pts", abs(robust), "<=0.5")
        print(f"paired mean difference bf16 − fp32: clean {clean:+.2f} points, PGD-10 {robust:+.2f} points")
    return finish()


if __name__ == "__main__":
    sys.exit(main())
