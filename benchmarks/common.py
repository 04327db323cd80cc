"""What every benchmark script shares: the command line, the device, the ci profile and a pool."""
import argparse

import corelib as cl
from corelib.profiles import load_profile


def setup(doc: str, images: int = 2000, repeats: int = 3, extra=None):
    """Parse --images, --repeats, --device (and `extra(parser)` arguments); return (args, device, ci profile,
    a class-balanced pool of `--images` CIFAR-10 training images on the device)."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=images)
    parser.add_argument("--repeats", type=int, default=repeats)
    parser.add_argument("--device", default="auto")
    if extra:
        extra(parser)
    args = parser.parse_args()
    device = cl.resolve_device(args.device)
    pool = cl.class_balanced_pool(cl.load_cifar10("train", device=device), args.images, seed=0)
    return args, device, load_profile("ci"), pool
