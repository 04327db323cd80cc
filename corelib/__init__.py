"""corelib: coreset selection for adversarial robustness, the package behind the corebook chapters."""
from .attacks import FGSM, PGD, Attack, SparseFGSM, build_attack, input_gradient, sparse_fgsm_levels
from .cache import ArtifactCache
from .data import CLASSES, Pool, augment, class_balanced_pool, ensure_cifar10, load_cifar10, load_pools
from .evaluate import accuracy, evaluate, fgsm_sweep, predict, robust_accuracy
from .models import build_model
from .objectives import build_objective
from .select import Selection, random_selection
from .train import (EpochRecord, Hook, RecordPerSample, TrainConfig, TrainResult, fit, load_checkpoint, save_checkpoint, train,
                    train_baseline)
from . import adversarial_coreset, baselines, bench, convex_toy, hardness, plots, reference, scores, sensitivity, utils
from .utils import device_description, resolve_device

__version__ = "0.1.0"
