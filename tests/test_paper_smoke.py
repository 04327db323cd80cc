"""The `paper` profile's code paths end to end on the CPU (`profiles/paper_smoke.yaml`: `paper` with only sizes,
epochs and attack iterations made tiny): every chapter with ResNet-18, batch-wise selection, PGD restarts, every
benchmark method and the paper's 11 fractions, and the benchmark's adversarial track (PGD training, Algorithm 1,
the standard AutoAttack with FAB-T and Square) through the command line. A bug on these paths is caught here,
before anyone spends GPU-days on the paper profile. Its numbers mean nothing.

One test per chapter, in the book's order and sharing one cache (chapter 1's base model serves the others, as in a
book build), so a failure names its chapter, and one for the adversarial track. They take 6 to 10 minutes on 2 CPU
cores (ResNet-18 at two threads is compute-bound where the `smoke` chapters are not), more than `make test`'s
10-minute budget leaves, so they run as their own step: `make test-paper`, which CI runs after `make test`. Needs
the data root (`make test` prepares it)."""
import json
import math

import pandas as pd
import pytest

from corelib import book


@pytest.fixture(scope="module")
def paper_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("paper_smoke_cache")


@pytest.mark.paper_smoke
@pytest.mark.parametrize("name", book.chapters())
def test_every_chapter_runs_on_the_paper_profiles_code_paths(name, tmp_path, monkeypatch, paper_cache):
    from corelib import methods, profiles

    monkeypatch.setenv("CORELIB_CACHE", str(paper_cache))
    results = tmp_path / "results"
    out = book.execute_chapter(name, "paper_smoke", {"results_dir": str(results)}, out_dir=tmp_path, force=True,
                               log=lambda *_: None)
    nb = json.loads(out.read_text())
    assert nb["metadata"]["corebook"]["profile"] == "paper_smoke", name
    errors = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c["outputs"] if o["output_type"] == "error"]
    assert not errors, (name, errors[:1])
    if name == "08_benchmark":
        bench = pd.concat([pd.read_csv(results / f) for f in ("benchmark.csv", "benchmark_small.csv")])
        assert set(bench.method) == set(methods.method_names("standard"))  # every method of the track ...
        paper = profiles.load_profile("paper")
        assert sorted(bench.fraction.unique()) == sorted(paper["bench_fractions"])  # ... and the 11 fractions
        assert (bench.scored_by.isin(["base", "proxy"])).all()


@pytest.mark.paper_smoke
def test_the_adversarial_track_runs_on_the_paper_profiles_code_paths(tmp_path, monkeypatch, paper_cache):
    import corelib.__main__ as cli
    from corelib import profiles

    monkeypatch.setenv("CORELIB_CACHE", str(paper_cache))
    paper = profiles.load_profile("paper_smoke")
    table = tmp_path / "adversarial.csv"
    argv = ["bench", "--profile", "paper_smoke", "--track", "adversarial", "--methods", "random", "easycore",
            "craig", "acs_craig", "acs_gradmatch", "--fractions", "0.001", "0.9", "--out", str(table)]
    assert cli.main(argv) == 0
    rows = pd.read_csv(table)
    assert len(rows) == 10 and (rows.track == "adversarial").all()
    assert (rows.objective == paper["bench_adv_objective"]).all()
    for row in rows.to_dict("records"):  # AutoAttack (standard: APGD-CE, APGD-T, FAB-T, Square) ran on every model
        if row["status"] == "ok":
            assert math.isfinite(row["autoattack_acc"]) and row["autoattack_acc"] <= row["pgd_acc"] + 1e-9, row
        else:
            assert row["status"] == "collapsed" and "autoattack_acc" in row["note"], row
