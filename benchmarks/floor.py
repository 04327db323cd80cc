"""How close the book's three passes come to this machine's floor: the fp32 rate the CPU reaches on a large matrix
product and on a convolution-bound probe (both threads, measured in this run), against the rate the trainer, the
input-gradient pass (scores and attacks) and inference achieve on the book's model.

The model's work is counted, not assumed: forward hooks add 2·MACs of every convolution and linear layer for one
image (F). A training step costs 3F per image (forward; the activation gradients; the weight gradients), the
input-gradient pass 2F (forward; activation gradients down to the input, no weight gradients), inference F.
BatchNorm, ReLU, pooling, augmentation and the optimiser are not counted as work: they are the overhead the shares
show. Each pass is timed as the book runs it: `corelib.train` for one epoch (augmentation, SGD, channels_last),
`corelib.attacks.input_gradient` over the pool in batches, `corelib.predict`.

- `training_vs_peak` ≥ 0.70, `input_gradient_vs_peak` ≥ 0.60, `inference_vs_peak` ≥ 0.60: achieved FLOP/s over
  the higher of the two probes; each pass is timed `--repeats` times and paired with a probe run beside it, so a
  drift of the machine's speed affects both (the interval is that of the median pair ratio).
- The profile of one training epoch (`--profile`) prints where the time goes, by operator.

    .venv/bin/python benchmarks/floor.py [--images 5000] [--repeats 6] [--profile]
"""
import sys

import torch

import corelib as cl
from common import finish, paired, result_paired, setup, spread, timed
from corelib.attacks import input_gradient


def model_flops(model: torch.nn.Module, device) -> float:
    """2 · multiply-accumulates of the convolutions and linear layers for one 3×32×32 image (forward)."""
    total = [0]

    def conv(module, inputs, output):
        kernel = module.kernel_size[0] * module.kernel_size[1] * module.in_channels // module.groups
        total[0] += 2 * output[0].numel() * kernel

    def linear(module, inputs, output):
        total[0] += 2 * module.in_features * module.out_features

    hooks = [m.register_forward_hook(conv if isinstance(m, torch.nn.Conv2d) else linear)
             for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    with torch.no_grad():
        model.eval()(torch.rand(1, 3, 32, 32, device=device))
    for h in hooks:
        h.remove()
    return float(total[0])


def probes(device):
    """The two fp32 probes: a 2048² matrix product and a 3×3 convolution of 128 → 128 channels on 64 images of
    32×32 (channels_last, as the book's models). Each returns the FLOPs of one call and the call."""
    n = 2048
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    conv = torch.nn.Conv2d(128, 128, 3, padding=1, bias=False).to(device, memory_format=torch.channels_last)
    conv.requires_grad_(False)
    x = torch.randn(64, 128, 32, 32, device=device).contiguous(memory_format=torch.channels_last)
    return {"matmul": (2 * n ** 3, lambda: a @ b), "conv": (2 * 64 * 128 * 32 * 32 * 128 * 9, lambda: conv(x))}


def main():
    args, device, settings, pool = setup(__doc__, images=5000, repeats=6, extra=lambda p: p.add_argument(
        "--profile", action="store_true", help="print the operators of one training epoch"))
    name = settings.data.model_name
    trained = cl.build_model(name, device=device)
    flops = model_flops(trained, device)
    rates = {}
    candidates = probes(device)
    for probe, (work, call) in candidates.items():
        call()
        seconds = min(timed(call, device) for _ in range(5))
        rates[probe] = work / seconds
    peak_name = max(rates, key=rates.get)
    peak_work, peak_call = candidates[peak_name]
    reps = max(1, round(0.5 * rates[peak_name] / peak_work))  # a probe of about half a second

    def peak():
        for _ in range(reps):
            peak_call()

    print(f"model {name}: F = {flops / 1e6:.1f} MFLOP per image forward; {args.images} images; "
          f"{torch.get_num_threads()} threads")
    print("probes: " + ", ".join(f"{k} {v / 1e9:.1f} GFLOP/s" for k, v in rates.items()) + f" (peak: {peak_name})")

    config = cl.TrainConfig(epochs=1, lr=settings.base.lr, batch_size=settings.base.batch_size,
                            weight_decay=settings.base.weight_decay, schedule="constant", progress=False,
                            precision="fp32")
    cl.train(trained, pool, config)  # one epoch: the attacks' and inference's model (eval mode)
    trained.eval()
    trainee = cl.build_model(name, device=device)  # each timed epoch continues training this one
    bs = 500
    x_all, y_all = pool.float_images(slice(0, len(pool))), pool.labels

    def gradient_pass():
        for i in range(0, len(pool), bs):
            input_gradient(trained, x_all[i:i + bs], y_all[i:i + bs])

    passes = {"training": (3 * flops, lambda: cl.train(trainee, pool, config)),
              "input_gradient": (2 * flops, gradient_pass),
              "inference": (flops, lambda: cl.predict(trained, pool, batch_size=bs))}
    goals = {"training": ">=0.70", "input_gradient": ">=0.60", "inference": ">=0.60"}
    for label, (per_image, call) in passes.items():
        work = per_image * len(pool)
        # the share = (work / t_pass) / (peak work / t_peak) = (work / peak work) · (t_peak / t_pass)
        scale = work / (peak_work * reps)
        share = lambda ratio, scale=scale: scale * ratio  # noqa: E731  ratio = t_peak / t_pass
        r = paired(peak, call, args.repeats, device, goal=goals[label], value=share)
        print(f"{label}: {len(pool) / r['b']:7.0f} images/s, {work / r['b'] / 1e9:6.1f} GFLOP/s = "
              f"{share(r['ratio']):.2f} of the peak probe {spread(r, share)}")
        result_paired(f"{label}_vs_peak", r, goals[label], value=share)
    if args.profile:
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CPU]) as prof:
            cl.train(trainee, pool, config)
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=25))
    return finish()


if __name__ == "__main__":
    sys.exit(main())
