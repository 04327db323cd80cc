"""corelib: coreset selection for adversarial robustness, the package behind the corebook chapters.

Its modules read bottom-up in five layers (imports point only down, or to an earlier module of the same layer);
`corelib.layers.LAYERS` lists them with what each holds, and `tests/test_layers.py` checks the imports against it.
"""
from . import (adversarial_coreset, attacks, cache, convex_toy, coreset_solvers, data, easycore, evaluate, exercises,
               experiments, layers, methods, models, objectives, plots, profiles, reference, sampling, scores, select,
               sensitivity, settings, train, utils)
from .attacks import FGSM, PGD, Attack, SparseFGSM, input_gradient, sparse_fgsm_levels
from .cache import ArtifactCache
from .checks import NonFiniteError
from .data import CLASSES, DataIntegrityError, Pool, augment, ensure_cifar10, load_cifar10
from .device import device_description, resolve_device
from .evaluate import accuracy, embed, evaluate, fgsm_sweep, predict, robust_accuracy
from .experiments import Chapter, EvaluationSuite, GridOptions, base_setup, train_baseline
from .methods import Proxy, select_coreset, train_proxy
from .models import build_model, eval_mode
from .objectives import build_objective
from .profiles import load_profile
from .sampling import class_balanced_pool, coreset_size, load_pools
from .select import Selection, random_selection, select_by_score
from .settings import Settings
from .train import (EpochRecord, Hook, RecordPerSample, TrainConfig, TrainResult, fit, load_checkpoint, save_checkpoint,
                    train)

__doc__ += "\n" + layers.summary() + "\n"
__version__ = "0.1.0"
__all__ = ["accuracy", "adversarial_coreset", "ArtifactCache", "Attack", "attacks", "augment", "base_setup",
           "build_model", "build_objective", "cache", "Chapter", "class_balanced_pool", "CLASSES", "convex_toy",
           "coreset_size", "coreset_solvers", "data", "DataIntegrityError", "device_description", "easycore", "embed",
           "ensure_cifar10", "EpochRecord", "eval_mode", "evaluate", "EvaluationSuite", "exercises", "experiments",
           "FGSM", "fgsm_sweep", "fit", "GridOptions", "Hook", "input_gradient", "layers", "load_checkpoint",
           "load_cifar10", "load_pools", "load_profile", "methods", "models", "NonFiniteError", "objectives", "PGD",
           "plots", "Pool", "predict", "profiles", "Proxy", "random_selection", "RecordPerSample", "reference",
           "resolve_device", "robust_accuracy", "sampling", "save_checkpoint", "scores", "select", "select_by_score",
           "select_coreset", "Selection", "sensitivity", "Settings", "settings", "sparse_fgsm_levels", "SparseFGSM",
           "train", "train_baseline", "train_proxy", "TrainConfig", "TrainResult", "utils"]
