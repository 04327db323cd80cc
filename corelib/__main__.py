"""Command line: `python -m corelib bench …` runs (a shard of) the benchmark grid.

    python -m corelib bench --methods random kcenter isef_bottom --fractions 0.1 0.5 --seeds 0 1 --profile ci
    torchrun --nproc_per_node 4 -m corelib bench --profile paper       # the profile's methods, fractions and seeds
    python -m corelib bench --merge 4 --out results.csv      # join the shards of a 4-process run by hand

Under torchrun every process runs every WORLD_SIZE-th cell into its own shard file; when all are done, rank 0
merges them into --out. Interrupted runs resume: rerun the same command.
"""
from __future__ import annotations

import argparse
import os
import sys

import torch
import torch.distributed as dist
import yaml

from . import baselines, bench
from .profiles import load_profile


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m corelib", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    bench = sub.add_parser("bench", help="run the benchmark grid method × fraction × seed")
    bench.add_argument("--methods", nargs="+", help="method names, or 'all' (default: the profile's bench_methods)")
    bench.add_argument("--fractions", nargs="+", type=float, help="default: the profile's bench_fractions")
    bench.add_argument("--seeds", nargs="+", type=int, help="default: the profile's bench_seeds")
    bench.add_argument("--profile", default="ci", help="profiles/NAME.yaml supplies data, model and training settings")
    bench.add_argument("-p", "--param", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                       help="override one profile value (YAML syntax), e.g. -p bench_epochs 10")
    bench.add_argument("--out", default="_build/results/bench.csv", help="the results table (CSV)")
    bench.add_argument("--merge", type=int, metavar="WORLD", help="only merge the shards of a WORLD-process run")
    return parser


def bench_main(args) -> int:
    if args.merge:
        table = bench.merge_shards(args.out, args.merge, keys=bench.BENCH_KEYS)
        print(f"merged {len(table)} rows into {args.out}")
        return 0
    params = load_profile(args.profile)
    for name, value in args.param:
        if name not in params:
            raise SystemExit(f"unknown parameter {name!r} for profile {args.profile!r}; known: {sorted(params)}")
        params[name] = yaml.safe_load(value)
    methods = args.methods or params["bench_methods"]
    methods = sorted(baselines.METHODS) if methods in ("all", ["all"]) else list(methods)
    for m in methods:
        baselines.check_method(m)
    fractions = args.fractions or params["bench_fractions"]
    seeds = args.seeds or params["bench_seeds"]
    rank, world = bench.distributed_env()
    distributed = world > 1 and "MASTER_ADDR" in os.environ
    if world > 1:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // int(os.environ.get("LOCAL_WORLD_SIZE", world))))
    if distributed:
        dist.init_process_group("gloo")
    log = (lambda msg: print(f"[rank {rank}/{world}] {msg}", flush=True))
    table = bench.benchmark_from_params(params, methods, fractions, seeds, args.out, rank=rank, world=world,
                                        log=log)
    log(f"{len(table)} rows in this process's part of the grid")
    if distributed:
        dist.barrier()
        if rank == 0:
            merged = bench.merge_shards(args.out, world, keys=bench.BENCH_KEYS)
            log(f"merged {len(merged)} rows into {args.out}")
        dist.barrier()
        dist.destroy_process_group()
    elif world > 1:
        log(f"shard written to {bench.shard_path(args.out, rank, world)}; merge with --merge {world}")
    return 0


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "bench":
        return bench_main(args)
    return 2  # pragma: no cover


if __name__ == "__main__":
    sys.exit(main())
