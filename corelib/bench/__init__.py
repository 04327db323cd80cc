"""Experiments: the layer above the methods. Resumable, shardable grids (`grid`); training on a selection
(`training`); the chapters' experiments (`base` for every chapter's data and base model, `scores`, `easycore`,
`adversarial`, `benchmark`) and the benchmark's tables (`tables`); and `verdicts`, the one rule for a clear
difference that every computed sentence of the book uses."""
from __future__ import annotations

from .adversarial import coreset_training_grid, predicted_speedup, summarize_training, work_passes
from .base import BaseSetup, autoattack_from_params, base_setup, profile_pools, train_baseline
from .benchmark import ACS_METHODS, BENCH_KEYS, TRACKS, benchmark_from_params, check_benchmark_params, run_benchmark
from .easycore import easycore_grid, robustness_by_hardness
from .grid import (CELL_KEYS, ResultsFileError, cell_attack, cell_seed, check_results_file, distributed_env,
                   merge_shards, run_grid, shard_path)
from .scores import score_agreement, score_coreset_grid
from .tables import best_three, fgsm_curves, recorded_benchmark, selection_cost, table_mean_std
from .training import coreset_config, selection_grid, train_on_selection
from .verdicts import (SPARSE_VARIANTS, chapter_agreement, claims, describe_agreement, describe_gap, describe_ranking,
                       easycore_verdict, paired_difference, paired_gap, ranking, ranking_table, scale_note, summarize,
                       top_bottom_claim, top_vs_bottom, versus_random)

__all__ = ["ACS_METHODS", "autoattack_from_params", "base_setup", "BaseSetup", "BENCH_KEYS", "benchmark_from_params",
           "best_three", "cell_attack", "CELL_KEYS", "cell_seed", "chapter_agreement", "check_benchmark_params",
           "check_results_file", "claims", "coreset_config", "coreset_training_grid", "describe_agreement",
           "describe_gap", "describe_ranking", "distributed_env", "easycore_grid", "easycore_verdict", "fgsm_curves",
           "merge_shards", "paired_difference", "paired_gap", "predicted_speedup", "profile_pools", "ranking",
           "ranking_table", "recorded_benchmark", "ResultsFileError", "robustness_by_hardness", "run_benchmark",
           "run_grid", "scale_note", "score_agreement", "score_coreset_grid", "selection_cost", "selection_grid",
           "shard_path", "SPARSE_VARIANTS", "summarize", "summarize_training", "table_mean_std", "top_bottom_claim",
           "top_vs_bottom", "TRACKS", "train_baseline", "train_on_selection", "versus_random", "work_passes"]
