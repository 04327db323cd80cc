"""Methods that train as they select: Algorithm 1 of adversarial coreset selection (Dolatabadi, Erfani & Leckie,
"Adversarial Coreset Selection for Efficient Robust Training", IJCV 2023) as grid methods of the adversarial
track. A cell trains for as many epochs as every other method's coreset training, with a warm start on the full
pool, then the weighted coreset of adversarial CRAIG or GradMatch, renewed every T epochs
(`adversarial_coreset.train_adversarial_coreset`)."""
from __future__ import annotations

from ..adversarial_coreset import Schedule, train_adversarial_coreset
from .registry import register_training

PAPER = "Dolatabadi, Erfani & Leckie (adversarial coreset selection, Algorithm 1)"


def _algorithm_1(solver: str):
    def train(model_name, pool, config, fraction, seed, cache, schedule):
        """Algorithm 1 with `solver` for `config.epochs` epochs; `schedule`: warm_start, period, batch_wise."""
        return train_adversarial_coreset(model_name, pool, config, solver, fraction, Schedule(**schedule), seed, cache)
    return train


for _name, _solver, _how in (("acs_craig", "craig", "adversarial CRAIG (facility location on selection gradients)"),
                             ("acs_gradmatch", "gradmatch", "adversarial GradMatch (orthogonal matching pursuit)")):
    register_training(_name, family="adversarial coreset", reads="selection gradients of the model in training",
                      description=f"{_how}, renewed during adversarial training", paper=PAPER)(_algorithm_1(_solver))

__all__ = ["PAPER"]
