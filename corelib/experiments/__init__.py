"""Experiments: the layer above the methods. Resumable, shardable grids (`grid`); training on a selection
(`training`); the chapters' experiments (`base` for every chapter's data and base model, `scores`, `easycore`,
`adversarial`, `benchmark`) and the benchmark's tables (`tables`); and `verdicts`, the one rule for a clear
difference that every computed sentence of the book uses."""
from __future__ import annotations

from .adversarial import (AdversarialCoresetGrid, coreset_training_grid, predicted_speedup, summarize_training,
                          work_passes)
from .base import BaseSetup, autoattack_for, base_setup, profile_pools, train_baseline
from .benchmark import (ACS_METHODS, BENCH_KEYS, TRACKS, Benchmark, benchmark_from_settings, benchmark_grid,
                        coreset_training, run_benchmark)
from .chapter import Chapter
from .easycore import easycore_grid, robustness_by_hardness
from .grid import (CELL_KEYS, GridOptions, ResultsFileError, cell_attack, cell_seed, check_results_file,
                   distributed_env, merge_shards, run_grid, shard_path)
from .suite import EvaluationSuite
from .top_bottom import score_agreement, score_coreset_grid
from .tables import best_three, fgsm_curves, recorded_benchmark, selection_cost, table_mean_std
from .training import CoresetRuns, coreset_config, selection_grid, train_on_selection
from .verdicts import (SPARSE_VARIANTS, chapter_agreement, claims, describe_agreement, describe_gap, describe_ranking,
                       easycore_verdict, paired_difference, paired_gap, ranking, ranking_table, scale_note, summarize,
                       top_bottom_claim, top_vs_bottom, versus_random)

__all__ = sorted(name for name in dir() if not name.startswith("_") and name not in {"annotations"})
