"""Self-checking exercises: a student writes a small function, `check(name, answer)` runs it and corelib's own
implementation on the same seeded random cases and says, case by case, what is right and what is not, without
showing the reference code.

>>> import corelib as cl
>>> cl.exercises.names()                      # what can be checked
>>> cl.exercises.describe("isef")             # the signature and what it must return
>>> cl.exercises.check("isef", my_isef)       # True when every case agrees, else prints the cases that fail

Each exercise states its inputs as plain tensors (no pandas tables, no pools), so an answer is a dozen lines. The
cases are drawn from `seed` (default 0): the same answer gets the same verdict on every machine.
"""
from __future__ import annotations

import traceback
from dataclasses import dataclass
from typing import Callable

import torch

from .attacks import FGSM, input_gradient, sparse_from_gradient, sparse_masks
from .coreset_solvers import facility_location_greedy
from .models import SmallCNN, eval_mode
from .sampling import balanced_counts
from .scores import fgsm_cs as _fgsm_cs
from .scores import isef as _isef
from .scores import pss as _pss
from .sensitivity import probability_table


@dataclass(frozen=True)
class Exercise:
    name: str
    chapter: str
    signature: str
    task: str
    cases: Callable[[torch.Generator], list[tuple[str, dict]]]  # (description, keyword arguments) per case
    reference: Callable[..., torch.Tensor]
    exact: bool = False  # compare exactly (masks, indices, counts) rather than to a tolerance


def _table(probs: torch.Tensor, labels: torch.Tensor, ks):
    """The sensitivity table of probabilities (N, 1 + L, C), samples numbered 0 … N − 1."""
    return probability_table(torch.arange(len(probs)), labels, probs, ks)


def _probability_cases(g: torch.Generator, with_labels: bool = True):
    cases = []
    for n, classes, ks, sharp in ((6, 3, [1, 4], 1.0), (40, 10, [1, 4, 16, 64], 3.0), (25, 10, [2, 8, 32], 0.3)):
        logits = torch.randn(n, 1 + len(ks), classes, generator=g, dtype=torch.float64) * sharp
        probs = logits.softmax(-1)
        labels = torch.randint(classes, (n,), generator=g)
        labels[: n // 3] = probs[: n // 3, 0].argmax(-1)  # some samples right at k = 0
        kwargs = {"probs": probs, "labels": labels, "ks": ks} if with_labels else {"probs": probs, "ks": ks}
        cases.append((f"{n} samples, {classes} classes, ks = {ks}", kwargs))
    return cases


def _gradient_cases(g: torch.Generator):
    cases = []
    for b, shape, k in ((2, (1, 3, 3), 1), (4, (3, 8, 8), 5), (8, (3, 32, 32), 64)):
        grad = torch.randn(b, *shape, generator=g)
        x = torch.rand(b, *shape, generator=g)
        cases.append((f"{b} images of shape {shape}, k = {k}", {"x": x, "grad": grad, "k": k}))
    return cases


def _model_cases(g: torch.Generator):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(torch.randint(1000, (1,), generator=g)))
        model = SmallCNN(widths=(4, 8, 8, 8)).eval()  # the book's architecture, narrow: a check takes milliseconds
    cases = []
    for b in (1, 5, 16):
        x = torch.rand(b, 3, 32, 32, generator=g)
        y = torch.randint(10, (b,), generator=g)
        cases.append((f"{b} images, a narrow SmallCNN", {"model": model, "x": x, "y": y}))
    return cases


def _ref_fgsm(model, x, y, eps):
    with eval_mode(model):
        return FGSM(eps=eps)(model, x, y)


def _ref_gradient_norms(model, x, y):
    with eval_mode(model):
        grad, _ = input_gradient(model, x, y)
    return grad.flatten(1).norm(dim=1)


def _similarity_cases(g: torch.Generator):
    cases = []
    for n, k in ((5, 2), (30, 6), (120, 25)):
        points = torch.randn(n, 4, generator=g, dtype=torch.float64)
        dist = torch.cdist(points, points)
        cases.append((f"{n} points, k = {k}", {"sim": dist.max() - dist, "k": k}))
    return cases


def _count_cases(g: torch.Generator):
    cases = []
    for sizes, total in (([5, 5], 4), ([7, 3, 10], 9), ([13, 29, 8, 50], 33)):
        labels = torch.cat([torch.full((s,), c) for c, s in enumerate(sizes)])
        labels = labels[torch.randperm(len(labels), generator=g)]
        cases.append((f"class sizes {sizes}, {total} samples", {"labels": labels, "total": total}))
    return cases


EXERCISES = {e.name: e for e in [
    Exercise("fgsm", "1", "fgsm(model, x, y, eps) -> x_adv",
             "FGSM: x + ε·sign(∇ₓ CE(f(x), y)), clipped to [0, 1]; the model is in eval mode, CE summed or averaged.",
             lambda g: [(d, {**kw, "eps": eps}) for (d, kw), eps in zip(_model_cases(g), (8 / 255, 2 / 255, 0.1))],
             _ref_fgsm),
    Exercise("sparse_mask", "2", "sparse_mask(grad, k) -> bool tensor shaped like grad",
             "True at the k entries of largest |grad| of each image (each image ranks its own C·H·W dimensions).",
             lambda g: [(d, {"grad": kw["grad"], "k": kw["k"]}) for d, kw in _gradient_cases(g)],
             lambda grad, k: sparse_masks(grad, [k])[0], exact=True),
    Exercise("sparse_fgsm", "2", "sparse_fgsm(x, grad, k, eps) -> x_adv",
             "Sparse FGSM (Eq. 1): x_i + ε·sign(g_i) clipped to [0, 1] on the k largest-|g| dimensions, x elsewhere.",
             lambda g: [(d, {**kw, "eps": eps}) for (d, kw), eps in zip(_gradient_cases(g), (1.0, 8 / 255, 0.5))],
             lambda x, grad, k, eps: sparse_from_gradient(x, grad, [k], eps)[0]),
    Exercise("isef", "3", "isef(probs, labels, ks, alpha=0.5) -> scores (N,)",
             "ISEF: α·minmax(S_inv) + (1 − α)·minmax(S_ent); probs[:, 0] is the clean input, probs[:, j] sparse FGSM "
             "at ks[j − 1]; S_inv = 1/k at the first k (1 at k = 0) whose prediction is wrong, 0 if never; S_ent the "
             "base-10 entropy of the clean probabilities; minmax(s) = (s − min s)/(max s − min s), 0 if constant.",
             _probability_cases,
             lambda probs, labels, ks, alpha=0.5: torch.tensor(_isef(_table(probs, labels, ks), alpha, ks).to_numpy())),
    Exercise("fgsm_cs", "4", "fgsm_cs(probs, labels, ks, weights=(0.5, 0.3, 0.2)) -> scores (N,)",
             "FGSM-CS: w_adv·Σ_k ‖p⁽⁰⁾ − p⁽ᵏ⁾‖₁/k + w_unc·max over all levels of the natural-log entropy + "
             "w_rob·[some k ≥ 1 predicts a wrong label].",
             _probability_cases,
             lambda probs, labels, ks, weights=(0.5, 0.3, 0.2): torch.tensor(
                 _fgsm_cs(_table(probs, labels, ks), weights, ks).to_numpy())),
    Exercise("pss", "5", "pss(probs, ks) -> scores (N,)",
             "PSS (Eq. 7): Σ_k ‖p⁽ᵏ⁾ − p⁽⁰⁾‖₂ / (log₂ k + 1).",
             lambda g: _probability_cases(g, with_labels=False),
             lambda probs, ks: torch.tensor(_pss(_table(probs, torch.zeros(len(probs), dtype=torch.long), ks), ks)
                                            .to_numpy())),
    Exercise("gradient_norms", "6", "gradient_norms(model, x, y) -> norms (N,)",
             "‖∇ₓ CE(f(xᵢ), yᵢ)‖₂ per image in eval mode, each image's gradient independent of the batch (the "
             "quantity EasyCore averages over epochs into AIGN).",
             _model_cases, _ref_gradient_norms),
    Exercise("facility_location", "7", "facility_location(sim, k) -> positions (k,) in selection order",
             "CRAIG's greedy: k times, add the column j not yet chosen with the largest gain Σᵢ max(0, sim[i, j] − "
             "best[i]), where best[i] is i's largest similarity to the chosen set (0 before the first choice).",
             _similarity_cases, facility_location_greedy, exact=True),
    Exercise("class_balanced_counts", "8", "class_balanced_counts(labels, total) -> counts per class",
             "How many samples each class gives a class-balanced subset of exactly `total`: ⌊total·n_c/N⌋, then one "
             "more for the classes with the largest fractional parts (largest remainder).",
             _count_cases, lambda labels, total: balanced_counts(labels, total, seed=0), exact=True),
]}


def names() -> list[str]:
    """The exercises `check` knows, in chapter order."""
    return list(EXERCISES)


def describe(name: str) -> str:
    """The signature an answer must have and what it must return (printed and returned)."""
    ex = _exercise(name)
    text = f"{ex.name} (chapter {ex.chapter}): {ex.signature}\n{ex.task}"
    print(text)
    return text


def case_count(name: str, seed: int = 0) -> int:
    """How many seeded cases `check` runs for the exercise."""
    return len(_exercise(name).cases(torch.Generator().manual_seed(int(seed))))


def _exercise(name: str) -> Exercise:
    if name not in EXERCISES:
        raise ValueError(f"unknown exercise {name!r}; cl.exercises.names() lists them: {names()}")
    return EXERCISES[name]


def _clone(kwargs: dict) -> dict:
    return {k: v.clone() if isinstance(v, torch.Tensor) else v for k, v in kwargs.items()}


def _compare(got, expected: torch.Tensor, exact: bool) -> str | None:
    """None when `got` matches `expected`, else what differs, in words (never the expected values themselves)."""
    if not isinstance(got, torch.Tensor):
        try:
            got = torch.as_tensor(got)
        except (TypeError, ValueError, RuntimeError):
            return f"returned a {type(got).__name__}, not a tensor"
    if tuple(got.shape) != tuple(expected.shape):
        return f"shape {tuple(got.shape)}, expected {tuple(expected.shape)}"
    if expected.dtype == torch.bool and got.dtype != torch.bool:
        return f"dtype {got.dtype}, expected a boolean mask"
    if exact or expected.dtype == torch.bool:
        wrong = got.cpu().long() != expected.cpu().long()
    else:
        if not torch.isfinite(got.double()).all():
            return "contains NaN or ±inf"
        wrong = ~torch.isclose(got.detach().cpu().double(), expected.cpu().double(), rtol=1e-4, atol=1e-6)
    if not bool(wrong.any()):
        return None
    first = tuple(int(i) for i in wrong.nonzero()[0])
    return f"{int(wrong.sum())} of {wrong.numel()} entries differ (the first at position {first})"


def check(name: str, answer: Callable, seed: int = 0, verbose: bool = True, case: int | None = None) -> bool:
    """Run `answer` on the exercise's seeded cases and compare with corelib's implementation. Prints one line per
    case (✓, or what is wrong: an exception, a shape, how many entries differ and where) and returns True when
    every case agrees. `case` (1, 2, …) checks that case alone: an autograder's test per case gives partial
    marks."""
    ex = _exercise(name)
    if not callable(answer):
        raise TypeError(f"check({name!r}, answer) needs a function; got {type(answer).__name__}")
    g = torch.Generator().manual_seed(int(seed))
    cases = ex.cases(g)
    if case is not None and not (isinstance(case, int) and 1 <= case <= len(cases)):
        raise ValueError(f"case={case!r}: exercise {name!r} has cases 1 to {len(cases)}")
    ok = True
    lines = []
    for i, (description, kwargs) in enumerate(cases, 1):
        if case is not None and i != case:
            continue
        expected = ex.reference(**_clone(kwargs))
        try:
            got = answer(**_clone(kwargs))
        except Exception as err:  # a student's bug is a result to report, not a crash
            frame = traceback.extract_tb(err.__traceback__)[-1]
            problem = f"raised {type(err).__name__}: {err} (line {frame.lineno} of {frame.name})"
        else:
            problem = _compare(got, expected, ex.exact)
        ok &= problem is None
        lines.append(f"  case {i} ({description}): " + ("✓" if problem is None else f"✗ {problem}"))
    if verbose:
        print(f"{name}: " + ("all cases agree with corelib" if ok else "some cases disagree with corelib"))
        print("\n".join(lines))
        if not ok:
            print(f"  the task: {ex.signature}\n  {ex.task}")
    return ok


__all__ = ["case_count", "check", "describe", "Exercise", "EXERCISES", "names"]
