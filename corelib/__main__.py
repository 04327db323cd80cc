"""Command line: `python -m corelib bench …` runs (a shard of) the benchmark grid.

    python -m corelib bench --methods random kcenter isef_bottom --fractions 0.1 0.5 --seeds 0 1 --profile ci
    torchrun --nproc_per_node 4 -m corelib bench --profile paper       # the profile's methods, fractions and seeds
    python -m corelib bench --merge 4 --out results.csv      # join the shards of a 4-process run by hand
    python -m corelib bench --profile cpu_full --track standard --estimate   # cells, s/cell by phase, total
    python -m corelib bench --profile cpu_full --track standard --methods random --fractions 0.01 --seeds 0 \
        --out results/cpu_full/bench_standard.csv --revalidate     # re-run recorded cells with the current code

Under torchrun every process runs every WORLD_SIZE-th cell into its own shard file; when all are done, rank 0
merges them into --out. Interrupted runs resume: rerun the same command. Several commands may share one --out:
rows are merged under a file lock, never overwritten, and rows of other configurations stay in the file.

Every argument and -p value is checked before any work starts; a bad one ends the command with one line,
`error: ...`, naming the value and the fix, and exit status 2.
"""
from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import torch
import torch.distributed as dist

from . import experiments, methods
from .checks import NonFiniteError
from .data import DataIntegrityError, DataNotFoundError
from .device import device_description, precision_description, resolve_device
from .experiments import TRACKS, record
from .experiments.results_table import read_text_table
from .hashing import code_hash, module_hashes
from .profiles import UsageError, check_value, load_profile, parse_overrides
from .sampling import check_fraction
from .settings import Settings

if TYPE_CHECKING:
    from collections.abc import Sequence
    import pandas as pd


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be ≥ 1 (the number of processes whose shards to merge)")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text} must be > 0 (hours of cells to start)")
    return value


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
    bench.add_argument("--track", choices=TRACKS, help="standard: coresets trained with the standard "
                       "objective (DeepCore); adversarial: with the profile's bench_adv_objective, evaluated with "
                       "AutoAttack too, acs_craig / acs_gradmatch available (default: the profile's bench_track, "
                       "else standard)")
    bench.add_argument("--out", default="_build/results/bench.csv", help="the results table (CSV)")
    bench.add_argument("--record", action="store_true",
                       help="after the run, record the table in the MANIFEST.json beside it (results/<profile>/: "
                            "checksum, command, commit, code hash, device, date)")
    bench.add_argument("--revalidate", action="store_true",
                       help="re-run the named cells (--methods, --fractions, --seeds) of the recorded table --out "
                            "with the current code, in a temporary file, and compare them with the recorded rows; "
                            "if every result column agrees exactly, the manifest adopts the current code hash (the "
                            "table is not touched), else the differences are printed and the exit status is 1")
    bench.add_argument("--rerun", metavar="REASON",
                       help="re-run the named cells (--methods, --fractions, --seeds) of the recorded table --out with "
                            "the current code, after a change that alters them, and replace their rows; the manifest "
                            "records the cells and REASON (e.g. 'forgetting counts never-learned samples as DeepCore')")
    bench.add_argument("--add", metavar="REASON",
                       help="run the named cells (--methods, --fractions, --seeds), none of them in the recorded table "
                            "--out yet (e.g. a new method's), with the current code, and append them; the manifest "
                            "records the cells and REASON")
    bench.add_argument("--hours", type=_positive_float, metavar="H",
                       help="start no new cell after H hours (a cell under way finishes); the same command resumes "
                            "the grid, so a recorded tier can be produced over several sittings")
    bench.add_argument("--estimate", action="store_true",
                       help="run one cell per fraction into a scratch table and print the cells still to run, the "
                            "seconds measured per cell by phase and the estimated total; runs nothing else")
    bench.add_argument("--merge", type=_positive_int, metavar="WORLD",
                       help="only merge the shards of a WORLD-process run (WORLD ≥ 1); a missing shard stops it")
    bench.add_argument("--partial", action="store_true",
                       help="with --merge: merge the shards that are there (the missing ones' cells stay to run)")
    return parser


def _check_out(out: str) -> Path:
    """--out as a results file (`experiments.check_results_file`: not a folder, a .csv name, not a foreign table); a
    trailing separator, which Path drops, also names a folder."""
    path = Path(out)
    if out.endswith(("/", os.sep)):
        raise UsageError(f"--out {out} is a folder; give the results file, e.g. --out {path / 'bench.csv'}")
    try:
        experiments.check_results_file(path, experiments.BENCH_KEYS)
    except ValueError as err:
        raise UsageError(str(err)) from None
    return path


def bench_settings(args: argparse.Namespace) -> tuple[Settings, list, list, list]:
    """The profile with the -p overrides, and the methods, fractions and seeds, all checked before any work
    (any problem is a `UsageError`)."""
    try:
        return _bench_settings(args)
    except UsageError:
        raise
    except (ValueError, KeyError) as err:
        raise UsageError(err.args[0] if isinstance(err, KeyError) and err.args else str(err)) from None


def _bench_settings(args):
    _check_out(args.out)
    params = load_profile(args.profile)
    for name, value in parse_overrides(args.param).items():
        if name not in params:
            raise UsageError(f"unknown parameter {name!r} for profile {args.profile!r}; known: {sorted(params)}")
        params[name] = check_value(name, value, params[name])
    settings = Settings.from_mapping(params)  # every value checked, before any work
    if getattr(args, "track", None):
        settings = settings.replace(bench_track=args.track)
    track = settings.benchmark.track
    names = args.methods or settings.benchmark.methods
    if "all" in list(names) and len(list(names)) > 1 and not isinstance(names, str):
        raise UsageError(f"--methods {' '.join(names)}: 'all' stands alone (every method of the track); give 'all' "
                         "or a list of names")
    names = methods.method_names(track) if names in ("all", ["all"], ("all",)) else list(names)
    for m in names:
        if m in methods.TRAINING_METHODS and track not in methods.TRAINING_METHODS[m].tracks:
            raise UsageError(f"{m} is adversarial coreset training (Algorithm 1): add --track adversarial")
        methods.check_method(m, track)
    fractions = list(args.fractions or settings.benchmark.fractions)
    seeds = list(args.seeds or settings.benchmark.seeds)
    for name, values in (("methods", names), ("fractions", fractions), ("seeds", seeds)):
        if not values:
            raise UsageError(f"no {name} to run: give at least one (--{name} or -p bench_{name})")
    for f in fractions:
        check_fraction(f)
    if any(isinstance(s, bool) or not isinstance(s, int) or not 0 <= s < 2 ** 31 for s in seeds):
        raise UsageError(f"seeds {seeds} must be integers in [0, 2^31)")
    for name, values in (("methods", names), ("fractions", fractions), ("seeds", seeds)):
        repeated = sorted({v for v in values if list(values).count(v) > 1}, key=str)
        if repeated:
            raise UsageError(f"--{name} names {', '.join(map(str, repeated))} more than once; give each once")
    experiments.distributed_env()  # RANK / WORLD_SIZE, checked before any work
    return settings, names, fractions, seeds


# columns of a benchmark row that are measurements of time or the grid's own bookkeeping (the grid configuration
# includes the code hash), not results: a revalidation compares every other column
NOT_RESULTS = ("select_seconds", "proxy_seconds", "train_seconds", "eval_seconds", "setup_seconds", "cell_seconds",
               "grid_config", "row_check")


def compare_rows(recorded: pd.DataFrame, rerun: pd.DataFrame, keys: Sequence[str] = experiments.BENCH_KEYS,
                 absent: set | None = None) -> list[str]:
    """The differences between re-run benchmark rows and the recorded rows of the same cells: one line per cell
    missing from the recorded table or per result column whose value differs (NaN equals NaN; numbers compared
    exactly, as read back from the CSVs). `absent`: (cell key, column) pairs the recorded row does not have (a
    column added to the grid after it was recorded, empty in its text), which cannot be compared and are skipped.
    Empty: the re-run reproduced the recorded rows."""
    import pandas as pd

    problems = []
    index = recorded.set_index(list(keys))
    for row in rerun.to_dict("records"):
        key = tuple(row[k] for k in keys)
        name = "/".join(str(k) for k in key)
        if key not in index.index:
            problems.append(f"{name}: not in the recorded table")
            continue
        old = index.loc[[key]].iloc[-1]
        for column in rerun.columns:
            if column in keys or column in NOT_RESULTS or (tuple(map(str, key)), column) in (absent or set()):
                continue
            a, b = (getattr(v, "item", lambda v=v: v)() for v in (old.get(column), row[column]))  # numpy → Python
            if not ((pd.isna(a) and pd.isna(b)) or a == b):
                problems.append(f"{name}: {column} recorded {a!r}, re-run {b!r}")
    return problems


def absent_columns(path: str | Path, keys: Sequence[str] = experiments.BENCH_KEYS) -> set:
    """(cell key as text, column) for every empty field of the recorded table at `path`: columns its rows were
    recorded without (a NaN is written 'nan', so an empty field is a column the row never had)."""
    text = read_text_table(Path(path), keys)
    return {(tuple(r[k] for k in keys), column) for r in text.to_dict("records") for column, value in r.items()
            if value == ""}


def revalidate_main(args: argparse.Namespace, settings: Settings, names: list[str], fractions: list[float],
                    seeds: list[int]) -> int:
    """`--revalidate`: re-run the named cells of a recorded table and adopt this code's hash only on an exact match."""
    import tempfile

    import pandas as pd

    if args.methods is None or experiments.distributed_env()[1] > 1:
        raise UsageError("--revalidate re-runs the cells you name, in one process: give --methods (and --fractions, "
                         "--seeds), e.g. --methods random --fractions 0.01 --seeds 0")
    recorded = record.load_recorded(args.out, code_hash(experiments.run_benchmark))
    if recorded is None:
        raise UsageError(f"--out {args.out} does not exist: --revalidate checks a recorded table")
    if not recorded.stale:
        print(f"{args.out} is current: its code hash is this code's; nothing to revalidate")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        experiments.benchmark_grid(settings, names, fractions, seeds, Path(tmp) / "rerun.csv",
                                   options=experiments.GridOptions(rank=0, world=1))
        rerun = pd.read_csv(Path(tmp) / "rerun.csv")  # read back from CSV, as the recorded table is
    absent = absent_columns(args.out)
    problems = compare_rows(recorded.table, rerun, absent=absent)
    unseen = sorted({column for _, column in absent} & set(rerun.columns))
    if problems:
        print(f"the current code does not reproduce {args.out}; its manifest is unchanged:", *problems, sep="\n  ")
        return 1
    cells = ["/".join(str(r[k]) for k in experiments.BENCH_KEYS) for r in rerun.to_dict("records")]
    record.revalidate_manifest(args.out, code_hash(experiments.run_benchmark), module_hashes(experiments.run_benchmark), cells,
                               command=args.command_line)
    print(f"{len(cells)} cells re-run with the current code reproduce their recorded rows exactly"
          + (f" (columns some recorded rows lack, not compared: {', '.join(unseen)})" if unseen else "")
          + f"; {Path(args.out).parent / record.MANIFEST} now carries this code's hash")
    return 0


def rerun_main(args: argparse.Namespace, settings: Settings, names: list[str], fractions: list[float],
               seeds: list[int]) -> int:
    """`--rerun REASON` / `--add REASON`: run the named cells of a recorded table with the current code and replace
    their rows, or append them (`record.replace_rows`). The cells run into a hidden file beside the table first, so
    an interrupted run resumes and the table changes only once every named cell is done."""
    flag = "--add" if args.add else "--rerun"
    if args.rerun and args.add:
        raise UsageError("--rerun replaces recorded cells and --add appends new ones: give one of them")
    if args.methods is None or experiments.distributed_env()[1] > 1:
        raise UsageError(f"{flag} runs the cells you name, in one process: give --methods (and --fractions, "
                         "--seeds), e.g. --methods forgetting")
    if record.load_recorded(args.out, code_hash(experiments.run_benchmark)) is None:
        raise UsageError(f"--out {args.out} does not exist: {flag} changes a recorded table")
    scratch = Path(args.out).with_name(f".{Path(args.out).stem}.rerun.csv")
    rows = experiments.benchmark_grid(settings, names, fractions, seeds, scratch,
                                      options=experiments.GridOptions(rank=0, world=1, hours=args.hours))
    if len(rows) < len(names) * len(fractions) * len(seeds):
        print(f"{len(rows)} of {len(names) * len(fractions) * len(seeds)} cells re-run so far (in {scratch}); the same "
              f"command continues, and {args.out} is replaced once all are done")
        return 0
    record.replace_rows(args.out, scratch, experiments.BENCH_KEYS, str(rows["grid_config"].iloc[0]),
                        {"reason": args.add or args.rerun, "command": args.command_line,
                         "code": code_hash(experiments.run_benchmark)}, add=bool(args.add))
    scratch.unlink(missing_ok=True)
    print(f"{'added' if args.add else 'replaced'} {len(rows)} rows of {args.out} with this code's; "
          f"{Path(args.out).parent / record.MANIFEST} records it")
    return 0


def bench_main(args: argparse.Namespace) -> int:
    """`python -m corelib bench …`: merge shards, revalidate, or run (a shard of) the grid and record it."""
    if args.merge:
        try:
            table = experiments.merge_shards(_check_out(args.out), args.merge, keys=experiments.BENCH_KEYS,
                                             partial=args.partial)
        except experiments.MissingShardsError as err:
            raise UsageError(str(err)) from None
        print(f"merged {len(table)} rows into {args.out}")
        return 0
    settings, names, fractions, seeds = bench_settings(args)
    if args.estimate:
        print(experiments.estimate_grid(settings, names, fractions, seeds, args.out).text())
        return 0
    if args.revalidate:
        return revalidate_main(args, settings, names, fractions, seeds)
    if args.rerun or args.add:
        return rerun_main(args, settings, names, fractions, seeds)
    rank, world = experiments.distributed_env()
    distributed = world > 1 and "MASTER_ADDR" in os.environ
    if world > 1:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // int(os.environ.get("LOCAL_WORLD_SIZE", world))))
    if distributed:
        dist.init_process_group("gloo")
    log = (lambda msg: print(f"[rank {rank}/{world}] {msg}", flush=True))
    table = experiments.benchmark_grid(settings, names, fractions, seeds, args.out,
                                      options=experiments.GridOptions(log=log, rank=rank, world=world, hours=args.hours))
    log(f"{len(table)} rows in this process's part of the grid")
    if distributed:
        dist.barrier()
        if rank == 0:
            merged = experiments.merge_shards(args.out, world, keys=experiments.BENCH_KEYS)
            log(f"merged {len(merged)} rows into {args.out}")
        dist.barrier()
        dist.destroy_process_group()
    elif world > 1:
        log(f"shard written to {experiments.shard_path(args.out, rank, world)}; merge with --merge {world}")
    if args.record and rank == 0 and (world == 1 or distributed):
        device = resolve_device(settings.data.device)
        entry = record.update_manifest(args.out, record.Run(command=args.command_line, profile=args.profile,
                                       code=code_hash(experiments.run_benchmark), device=device_description(device),
                                       precision=precision_description(settings.data.precision, device),
                                       cells=len(names) * len(fractions) * len(seeds),
                                       modules=module_hashes(experiments.run_benchmark)))
        log(f"recorded {entry['rows']} rows of {args.out} in {Path(args.out).parent / record.MANIFEST}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """The command line; exit status 0 (done), 1 (a run failed) or 2 (a request that cannot work, one `error:` line)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = _parser().parse_args(argv)  # argparse's own errors: one usage line, exit 2
    args.command_line = "python -m corelib " + " ".join(shlex.quote(a) for a in argv)
    try:
        if args.command == "bench":
            return bench_main(args)
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except (DataNotFoundError, DataIntegrityError, NonFiniteError, experiments.ResultsFileError, record.RecordError,
            OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        out = getattr(args, "out", "the results table")
        print(f"error: interrupted; every finished cell is kept in {out}: run the same command again to resume",
              file=sys.stderr)
        return 130
    return 2  # pragma: no cover


if __name__ == "__main__":
    sys.exit(main())
