"""The package's layout, in one place: every module of corelib, bottom-up, in five layers, with what it holds.

A module imports only from the layers below it or from a module listed before it in its own layer, so there is no
import cycle and a chapter's code is one import away. `tests/test_layers.py` checks the imports against this list,
and the README's layout table and `corelib.__doc__` are written from it (a test keeps the README in step).
"""
from __future__ import annotations

# layer → [(module relative to corelib, what it holds)], bottom-up; "" is the package itself (corelib/__init__)
LAYERS: dict[str, list[tuple[str, str]]] = {
    "infrastructure": [
        ("layers", "this list: the package's layout"),
        ("checks", "checks of numeric settings (integers never truncated, numbers finite and in range), "
                   "`NonFiniteError`"),
        ("device", "the device (auto: CUDA, MPS, CPU) and the arithmetic (fp32, bf16 where native)"),
        ("files", "atomic file writes and CSV tables, file locks, SHA-256 of files"),
        ("hashing", "hashes of configurations, weights and code (the import closure of a module), the git commit"),
        ("utils", "the four modules above behind one import, for the chapters"),
        ("cache", "`ArtifactCache`: artifacts keyed by their configuration and the code hash of what computes them"),
        ("profiles", "`load_profile`: the `smoke` / `ci` / `paper` … parameter files, for the book and the CLI"),
    ],
    "substrate": [
        ("data.pool", "`Pool`: images as uint8 tensors on the device with labels and dataset indices; batched "
                      "augmentation"),
        ("data.cifar10", "the CIFAR-10 files: download, checksums, a restricted unpickler, batch checks, "
                         "`load_cifar10`"),
        ("data", "the data behind one import"),
        ("data.__main__", "`python -m corelib.data DIR`"),
        ("sampling", "fraction checks, `coreset_size`, class-balanced counts and samples, uniform random draws"),
        ("models", "CIFAR ResNet-18 and a small CNN (inputs in [0, 1], normalization inside), `eval_mode`"),
        ("attacks.base", "`Attack` (`attack(model, x, y) -> x_adv`, seeded random starts), input and budget checks, "
                         "the input gradient"),
        ("attacks.fgsm", "FGSM"),
        ("attacks.pgd", "PGD, ℓ∞ and ℓ2, with restarts"),
        ("attacks.sparse", "sparse FGSM: every k level from one gradient"),
        ("attacks.sanity", "AutoAttack's sanity checks: training mode, randomness, probabilities, zero gradients"),
        ("attacks.autoattack", "AutoAttack: APGD-CE, APGD-T, FAB-T, Square, the per-image worst case"),
        ("attacks", "every attack behind one import"),
        ("objectives", "standard, FGSM-RS (fast AT), PGD (ℓ∞/ℓ2) and TRADES objectives, per-sample losses"),
        ("evaluate", "clean and robust accuracy, the FGSM ε-sweep from one gradient, penultimate features"),
        ("hooks", "what a training run shows its hooks: the epoch-start state, per-sample statistics"),
        ("train", "the one trainer: subsets, weights, objectives, schedules, per-sample hooks, cached `fit`"),
    ],
    "methods": [
        ("select", "`Selection` (indices, weights, scores), class-balanced random and score-based selection"),
        ("sensitivity", "the sparse-FGSM sensitivity table (per-sample probabilities at every k), flip rates"),
        ("scores", "ISEF, FGSM-CS and PSS as pure functions of the sensitivity table"),
        ("easycore", "EasyCore: the AIGN training hook (in-training and exact), EasyCore's selection, boundary "
                     "distance"),
        ("coreset_solvers", "CRAIG and GradMatch (per class, batch-wise) and the greedy primitives: facility "
                            "location, graph cut, herding, k-center"),
        ("adversarial_coreset", "selection gradients for PGD (Eq. 18) and TRADES (Eq. 22), Algorithm 1 as a trainer "
                                "hook, Γ, the cost model"),
        ("convex_toy", "robust multinomial logistic regression with exact gradients, where Theorem 1's bound is "
                       "evaluated"),
        ("methods.proxy", "`Proxy`: the selection model, pass counting, artifacts shared between selections"),
        ("methods.registry", "`register`: every selection method's name, family, what it keeps and reads, paper"),
        ("methods.uncertainty", "least confidence, entropy, margin"),
        ("methods.geometry", "k-center, herding, contextual diversity, Cal, facility location, graph cut"),
        ("methods.boundary", "DeepFool"),
        ("methods.training_dynamics", "forgetting, GraNd, moderate"),
        ("methods.gradient_matching", "CRAIG, GradMatch, Glister and their adversarial variants"),
        ("methods.pruning", "the data-pruning methods beyond DeepCore: EL2N, AUM, dynamic uncertainty, TDDS, CCS, D2"),
        ("methods.robustness_aware", "the book's own methods: ISEF, FGSM-CS and PSS (top and bottom) and EasyCore"),
        ("methods.adversarial_training", "methods that train as they select: Algorithm 1 (acs_craig, acs_gradmatch)"),
        ("methods", "`select_coreset(method, proxy, fraction, seed)`: every selection method behind one call"),
    ],
    "experiments": [
        ("settings", "`Settings`: every setting, typed and grouped by concern, validated once from the flat names of "
                     "profiles, parameters cells and `-p`"),
        ("experiments.cell_claims", "claims on grid cells: who computes a cell, and when a claim is stale"),
        ("experiments.results_table", "results tables on disk: atomic rows under a lock, row checks, shards and "
                                       "their merge"),
        ("experiments.grid", "resumable, shardable grids, atomic CSV after every cell"),
        ("experiments.suite", "`EvaluationSuite`: the measurements every grid takes of a trained model, by column"),
        ("experiments.record", "recorded results under `results/<profile>/` and their manifests"),
        ("experiments.statistics", "the one rule for a clear difference: paired gaps, their intervals, rankings"),
        ("experiments.sentences", "the verdicts' sentences and reader-facing tables, built on that rule"),
        ("experiments.paper_claims", "the papers' claims checked by stated rules (top vs bottom, chapter 8's claims)"),
        ("experiments.training", "training on a selection, and grids of such runs"),
        ("experiments.base", "every chapter's pools and base model"),
        ("experiments.chapter", "`Chapter.start(globals())`: a chapter's settings, cache, results folder, base model"),
        ("experiments.top_bottom", "chapters 3–5: how the scores agree, top against bottom coresets"),
        ("experiments.easycore", "chapter 6: EasyCore, random and hardest-first coresets under each objective"),
        ("experiments.adversarial", "chapter 7: full adversarial training against Algorithm 1"),
        ("experiments.benchmark", "chapter 8: every method × fraction × seed, both tracks"),
        ("experiments.estimate", "a grid's cost before it starts: a few cells measured by phase, the rest extrapolated"),
        ("experiments.tables", "the benchmark's tables and the recorded tiers"),
        ("experiments", "the chapters' experiments behind one import"),
    ],
    "presentation": [
        ("plots", "the figures the chapters share"),
        ("quiz", "questions answered in the page itself (no kernel): multiple choice and numeric, with feedback"),
        ("reference", "the papers' published tables (labelled as theirs), from `reference/`"),
        ("exercises", "the self-checking exercises"),
        ("book.chapters", "the table of contents, each chapter's notebook, declared parameters and fingerprint"),
        ("book.student", "the student edition: worked solutions removed, self-checks kept as stubs"),
        ("book.assignments", "otter-grader assignments from the self-checks: student notebook, hidden tests, grading"),
        ("book.site", "the HTML build (teacher's and student's editions), offline assets, results downloads"),
        ("book.execute", "each chapter executed with papermill, with its run record; the whole build"),
        ("book.checks", "the built pages checked in headless Chromium"),
        ("book.pdf", "the book as one PDF, printed by Chromium and checked"),
        ("book.cli", "`python -m corelib.book build / params / check-html / pdf / student / check-student / assignments`"),
        ("book", "the book tool behind one import"),
        ("book.__main__", "`python -m corelib.book`"),
        ("__main__", "`python -m corelib bench --methods … --fractions … --seeds …` (also under `torchrun`)"),
        ("", "the package: the names a chapter uses"),
    ],
}


def modules() -> list[str]:
    """Every module's full name, bottom-up (the order the import check uses)."""
    return [f"corelib.{m}".rstrip(".") for layer in LAYERS.values() for m, _ in layer]


def summary() -> str:
    """One line per layer: its modules, for the package's docstring."""
    return "\n".join(f"- {layer}: " + ", ".join(f"`{m}`" for m, _ in mods if m) for layer, mods in LAYERS.items())


def readme_table() -> str:
    """The README's layout table (layer, module, what it holds)."""
    rows = ["| layer | module | what it holds |", "|---|---|---|"]
    for layer, mods in LAYERS.items():
        for i, (module, what) in enumerate(mods):
            rows.append(f"| {layer if i == 0 else ''} | `{module or 'corelib'}` | {what} |")
    return "\n".join(rows)


__all__ = ["LAYERS", "modules", "readme_table", "summary"]
