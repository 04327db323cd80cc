"""Experiments: the layer above the methods. Settings come typed (`corelib.settings`); a chapter starts with
`Chapter.start(globals())` (`chapter`); grids are resumable and shardable (`grid`, with claims on cells in
`cell_claims`), train on selections (`training`) and measure every model with one evaluation suite (`suite`); the
chapters' experiments (`base` for every chapter's data and base model, `top_bottom`, `easycore`, `adversarial`,
`benchmark`), the benchmark's tables (`tables`), recorded results (`record`) and `statistics`, the one rule for a
clear difference that every computed sentence of the book uses."""
from __future__ import annotations

from .adversarial import (AdversarialCoresetFacts, AdversarialCoresetGrid, adversarial_coreset_facts,
                          coreset_training_grid, predicted_speedup, summarize_training, work_passes)
from .base import BaseSetup, autoattack_for, base_setup, profile_pools, train_baseline
from .benchmark import (BENCH_KEYS, TRACKS, Benchmark, benchmark_from_settings, benchmark_grid, coreset_training,
                        run_benchmark)
from .chapter import Chapter
from .easycore import easycore_grid, robustness_by_hardness
from .estimate import GridEstimate, estimate_grid
from .grid import GridOptions, cell_attack, cell_seed, distributed_env, run_grid
from .paper_claims import (SPARSE_VARIANTS, ClaimRules, TopBottomRule, chapter_agreement, claims, easycore_verdict,
                           top_bottom_claim, top_bottom_verdict, top_vs_bottom)
from .results_table import (CELL_KEYS, MissingShardsError, ResultsFileError, check_results_file, checked_rows,
                            merge_shards, row_check, shard_path)
from .sentences import (DEGENERATE_NOTE, agreement_phrase, checks_note, checks_summary, degenerate_note, describe_agreement, describe_gap,
                        describe_ranking, misclassified_position, ranking_table, run_scale, scale_note, versus_random)
from .statistics import paired_difference, paired_gap, ranking, summarize
from .suite import EvaluationSuite
from .tables import best_three, explorable, fgsm_curves, rank_agreement, recorded_benchmark, selection_cost, table_mean_std
from .top_bottom import score_agreement, score_coreset_grid
from .training import CoresetRuns, coreset_config, selection_grid, train_on_selection

__all__ = ["estimate_grid", "GridEstimate", "explorable", "checks_note", "checks_summary", "rank_agreement", "agreement_phrase", "misclassified_position", "run_scale", "ClaimRules", "MissingShardsError", "checked_rows", "row_check", "adversarial_coreset_facts",
           "AdversarialCoresetFacts", "AdversarialCoresetGrid", "autoattack_for", "base_setup", "BaseSetup",
           "BENCH_KEYS", "Benchmark", "benchmark_from_settings", "benchmark_grid", "best_three", "cell_attack",
           "CELL_KEYS", "cell_seed", "Chapter", "DEGENERATE_NOTE", "degenerate_note", "chapter_agreement",
           "check_results_file", "claims", "coreset_config", "coreset_training", "coreset_training_grid", "CoresetRuns",
           "describe_agreement", "describe_gap", "describe_ranking", "distributed_env", "easycore_grid",
           "easycore_verdict", "EvaluationSuite", "fgsm_curves", "GridOptions", "merge_shards", "paired_difference",
           "paired_gap", "predicted_speedup", "profile_pools", "ranking", "ranking_table", "recorded_benchmark",
           "ResultsFileError", "robustness_by_hardness", "run_benchmark", "run_grid", "scale_note", "score_agreement",
           "score_coreset_grid", "selection_cost", "selection_grid", "shard_path", "SPARSE_VARIANTS", "summarize",
           "summarize_training", "table_mean_std", "top_bottom_claim", "top_bottom_verdict", "top_vs_bottom",
           "TopBottomRule", "TRACKS", "train_baseline", "train_on_selection", "versus_random", "work_passes"]
