"""The `paper` profile's code paths end to end on the CPU (`profiles/paper_smoke.yaml`: `paper` with only sizes,
epochs and attack iterations made tiny): every chapter with ResNet-18, batch-wise selection, PGD restarts, every
benchmark method and the paper's 11 fractions, and the benchmark's adversarial track (PGD training, Algorithm 1,
the standard AutoAttack with FAB-T and Square) through the command line. A bug on these paths is caught here,
before anyone spends GPU-days on the paper profile. Its numbers mean nothing.

About 6 minutes on 2 CPU cores, so it runs as its own step, `make test-paper` (CI runs it after `make test`),
keeping `make test` within its 10 minutes. Needs the data root (`make test` prepares it)."""
import json
import math

import pandas as pd
import pytest

from corelib import book


@pytest.mark.paper_smoke
def test_every_chapter_and_the_adversarial_track_run_on_the_paper_profiles_code_paths(tmp_path, monkeypatch):
    import corelib.__main__ as cli
    from corelib import profiles

    monkeypatch.setenv("CORELIB_CACHE", str(tmp_path / "cache"))  # one cache: chapter 1's base model serves all
    paper = profiles.load_profile("paper_smoke")
    for name in book.chapters():
        out = book.execute_chapter(name, "paper_smoke", {"results_dir": str(tmp_path / "results" / name)},
                                   out_dir=tmp_path, force=True, log=lambda *_: None)
        nb = json.loads(out.read_text())
        assert nb["metadata"]["corebook"]["profile"] == "paper_smoke", name
        errors = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c["outputs"]
                  if o["output_type"] == "error"]
        assert not errors, (name, errors[:1])

    bench = pd.concat([pd.read_csv(tmp_path / "results" / "08_benchmark" / f) for f in
                       ("benchmark.csv", "benchmark_small.csv")])
    from corelib import baselines

    assert set(bench.method) == set(baselines.METHODS)  # every method ...
    assert sorted(bench.fraction.unique()) == sorted(profiles.load_profile("paper")["bench_fractions"])  # ... 11 fractions
    assert (bench.scored_by.isin(["base", "proxy"])).all()

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
