"""Published tables (the papers' numbers, never ours), from the repository's `reference/` folder."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

REFERENCE_DIR = Path(__file__).resolve().parent.parent / "reference"
SPARSE_FGSM_SETTING = "Shinde & Madabhushi, Table 1: ResNet-18, full CIFAR-10, 200 epochs"


def sparse_fgsm_table1() -> pd.DataFrame:
    """The sparse-FGSM paper's Table 1 as a tidy table: method, keep, fraction (0–1), accuracy (0–1), source."""
    wide = pd.read_csv(REFERENCE_DIR / "sparse_fgsm_paper_table1.csv")
    tidy = wide.melt(id_vars="method", var_name="percent", value_name="accuracy")
    tidy["fraction"] = tidy["percent"].astype(float) / 100
    tidy["accuracy"] = tidy["accuracy"] / 100
    parts = tidy["method"].str.rsplit("_", n=1, expand=True)
    is_scheme = tidy["method"].str.endswith(("_top", "_bottom"))
    tidy["keep"] = parts[1].where(is_scheme, "-")
    tidy["method"] = parts[0].where(is_scheme, tidy["method"])
    tidy["method"] = tidy["method"].replace({"ISEF": "isef", "FGSM-CS": "fgsm_cs", "PSS": "pss", "Random": "random"})
    tidy["source"] = SPARSE_FGSM_SETTING
    return tidy[["method", "keep", "fraction", "accuracy", "source"]]


ACS_SETTING = ("Dolatabadi, Erfani & Leckie, Tables 1 and 4: ResNet-18, full CIFAR-10, coreset 50 %, "
               "PGD-50 × 10 restarts at 8/255, minutes on one V100")
COREADV_SETTING = ("Harshvardhan & Sharma, Table 1: CIFAR-10, the percentage of the full-data performance each "
                   "method reaches with 10 % and 50 % of the data")


def acs_table1() -> pd.DataFrame:
    """The adversarial coreset paper's Tables 1 and 4 (the paper's numbers): objective, training, clean and robust
    accuracy (%), minutes, and the speed-up over full training with the same objective."""
    table = pd.read_csv(REFERENCE_DIR / "acs_paper_table1.csv")
    full = table[table.training.str.startswith("Full")].set_index("objective")["time_min"]
    table["speedup"] = table["objective"].map(full) / table["time_min"]
    table["source"] = ACS_SETTING
    return table


def coreadv_table1() -> pd.DataFrame:
    """The CoreAdv framework paper's Table 1 as printed (the paper's numbers), with our name of each method
    (`corelib_method`, by `PAPER_METHOD_NAMES`) and its source."""
    table = pd.read_csv(REFERENCE_DIR / "coreadv_table1.csv")
    return table.assign(corelib_method=table["method"].map(PAPER_METHOD_NAMES), source=COREADV_SETTING)


PAPER_METHOD_NAMES = {  # the papers' labels → corelib.methods method names
    "Random": "random", "CD": "contextual_diversity", "Contextual Diversity": "contextual_diversity",
    "Herding": "herding", "k-Center Greedy": "kcenter", "Least Confidence": "least_confidence", "Entropy": "entropy",
    "Margin": "margin", "Forgetting": "forgetting", "GraNd": "grand", "Cal": "cal", "Craig": "craig",
    "GradMatch": "gradmatch", "Glister": "glister", "FL": "facility_location",
    "Submodular": "graph_cut",  # the CoreAdv report's text names its "Submodular" row GraphCut
    "DeepFool": "deepfool", "Moderate DS": "moderate", "isef": "isef", "fgsm_cs": "fgsm_cs", "pss": "pss",
}


def benchmark_table1() -> pd.DataFrame:
    """The sparse-FGSM paper's Table 1 with our method names (isef_top, kcenter, …): method, fraction, accuracy
    (0–1), source. The paper's numbers, not ours."""
    tidy = sparse_fgsm_table1()
    name = tidy["method"].map(PAPER_METHOD_NAMES).fillna(tidy["method"])
    tidy["method"] = [f"{n}_{k}" if k != "-" else n for n, k in zip(name, tidy["keep"])]
    return tidy[["method", "fraction", "accuracy", "source"]]


__all__ = ["ACS_SETTING", "acs_table1", "benchmark_table1", "COREADV_SETTING", "coreadv_table1", "PAPER_METHOD_NAMES",
           "REFERENCE_DIR", "SPARSE_FGSM_SETTING", "sparse_fgsm_table1"]
