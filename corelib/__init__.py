"""corelib: coreset selection for adversarial robustness, the package behind the corebook chapters.

Its modules read bottom-up in five layers (imports point only down, or to an earlier module of the same layer);
`corelib.layers.LAYERS` lists them with what each holds, and `tests/test_layers.py` checks the imports against it.
"""
from . import layers
from . import (adversarial_coreset, attacks, cache, convex_toy, coreset_solvers, data, easycore, evaluate,
               experiments, exercises, methods, models, objectives, plots, profiles, reference, sampling, scores, select,
               sensitivity, settings, train, utils)
from .attacks import FGSM, PGD, Attack, SparseFGSM, input_gradient, sparse_fgsm_levels
from .methods import Proxy, select_coreset, train_proxy
from .experiments import Chapter, EvaluationSuite, GridOptions, base_setup, train_baseline
from .cache import ArtifactCache
from .data import CLASSES, DataIntegrityError, Pool, augment, ensure_cifar10, load_cifar10
from .evaluate import accuracy, embed, evaluate, fgsm_sweep, predict, robust_accuracy
from .models import build_model, eval_mode
from .objectives import build_objective
from .profiles import load_profile
from .sampling import class_balanced_pool, coreset_size, load_pools
from .settings import Settings
from .select import Selection, random_selection, select_by_score
from .train import EpochRecord, Hook, RecordPerSample, TrainConfig, TrainResult, fit, load_checkpoint, save_checkpoint, train
from .utils import NonFiniteError, device_description, resolve_device

__doc__ += "\n" + layers.summary() + "\n"
__version__ = "0.1.0"
