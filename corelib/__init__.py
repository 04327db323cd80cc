"""corelib: coreset selection for adversarial robustness, the package behind the corebook chapters.

Layers, bottom-up (imports point only down, or to an earlier module of the same layer; `tests/test_layers.py`):
- infrastructure: `utils`, `cache`, `profiles`;
- substrate, in the order chapter 1 meets it: `data`, `sampling`, `models`, `attacks`, `objectives`, `evaluate`,
  `train`;
- methods, one module per concept a chapter teaches: `select`, `sensitivity`, `scores`, `hardness`,
  `coreset_solvers`, `adversarial_coreset`, `convex_toy`, and the `baselines` package (a registry of every method);
- experiments: the `bench` package (grids, training on a selection, each chapter's experiment, `verdicts`);
- presentation: `plots`, `reference`, `exercises` (the self-checking exercises), and `book` (the builder, not imported here).
"""
from . import (adversarial_coreset, attacks, baselines, bench, cache, convex_toy, coreset_solvers, data, evaluate,
               exercises, hardness, models, objectives, plots, profiles, reference, sampling, scores, select,
               sensitivity, train, utils)
from .attacks import FGSM, PGD, Attack, SparseFGSM, input_gradient, sparse_fgsm_levels
from .baselines import Proxy, select_coreset, train_proxy
from .bench import base_setup, train_baseline
from .cache import ArtifactCache
from .data import CLASSES, DataIntegrityError, Pool, augment, ensure_cifar10, load_cifar10
from .evaluate import accuracy, embed, evaluate, fgsm_sweep, predict, robust_accuracy
from .models import build_model, eval_mode
from .objectives import build_objective
from .profiles import load_profile
from .sampling import class_balanced_pool, coreset_size, load_pools
from .select import Selection, random_selection, select_by_score
from .train import EpochRecord, Hook, RecordPerSample, TrainConfig, TrainResult, fit, load_checkpoint, save_checkpoint, train
from .utils import NonFiniteError, device_description, resolve_device

__version__ = "0.1.0"
