"""Recorded results (`corelib.bench.record`): manifests written by the project's commands, verified on every test
run, and read by the chapters with a stale flag."""
import json

import pandas as pd
import pytest

from corelib.bench import run_grid
from corelib.bench.record import MANIFEST, RecordError, load_recorded, update_manifest, verify_results
from corelib.profiles import ROOT
from corelib.utils import code_hash

CELLS = [{"method": m, "fraction": 0.1, "seed": s} for m in ("a", "b") for s in (0, 1)]


def _grid(path):
    return run_grid(CELLS, lambda c: {"acc": 0.5 + 0.1 * c["seed"]}, path, keys=("method", "fraction", "seed"),
                    config={"v": 1}, log=lambda *_: None)


def _record(path, code="code-1"):
    return update_manifest(path, command="python -m corelib bench --profile cpu_full --record", profile="cpu_full",
                           code=code, device="cpu (2 threads)", precision="fp32")


def test_every_committed_recorded_table_matches_its_manifest():
    """CI's check of the recorded tier: checksums and row counts of every table under results/ (never re-run)."""
    assert verify_results(ROOT / "results") == []


def test_a_recorded_table_verifies_and_every_kind_of_damage_is_named(tmp_path):
    folder = tmp_path / "results" / "cpu_full"
    path = folder / "bench.csv"
    _grid(path)
    entry = _record(path)
    manifest = json.loads((folder / MANIFEST).read_text())["files"]["bench.csv"]
    assert manifest == entry and entry["rows"] == 4 and len(entry["grid_configs"]) == 1
    assert entry["command"].endswith("--record") and entry["device"] == "cpu (2 threads)"
    assert verify_results(tmp_path) == []

    original = path.read_bytes()
    path.write_bytes(original.replace(b"0.6", b"0.9"))
    (problem,) = verify_results(tmp_path)
    assert "SHA-256 does not match" in problem and "python -m corelib bench --profile cpu_full" in problem
    with pytest.raises(RecordError, match="does not match its recorded SHA-256"):
        load_recorded(path, "code-1")
    path.write_bytes(original)
    (folder / "stray.csv").write_text("a\n1\n")
    assert any("stray.csv: a table in a recorded folder without a manifest entry" in p for p in verify_results(tmp_path))
    (folder / "stray.csv").unlink()
    path.unlink()
    assert any("listed in" in p and "missing" in p for p in verify_results(tmp_path))


def test_load_recorded_says_recorded_and_stale(tmp_path):
    path = tmp_path / "bench.csv"
    assert load_recorded(path, "code-1") is None  # nothing recorded: the page shows its live run only
    _grid(path)
    with pytest.raises(RecordError, match="no entry"):
        load_recorded(path, "code-1")
    _record(path, code="code-1")
    fresh, stale = load_recorded(path, "code-1"), load_recorded(path, "code-2")
    assert not fresh.stale and stale.stale
    pd.testing.assert_frame_equal(fresh.table, pd.read_csv(path))
    assert "Recorded results (not executed in this build)" in fresh.label() and "Stale" not in fresh.label()
    assert "**Stale:**" in stale.label() and fresh.entry["commit"] in stale.label()


def test_the_cli_records_what_it_ran(tmp_path, monkeypatch):
    import corelib.__main__ as cli
    from corelib import bench

    out = tmp_path / "results" / "ci" / "bench.csv"
    monkeypatch.setattr(bench, "benchmark_from_params", lambda params, *a, **k: _grid(out))
    argv = ["bench", "--profile", "ci", "--methods", "random", "--out", str(out), "--record"]
    assert cli.main(argv) == 0
    entry = json.loads((out.parent / MANIFEST).read_text())["files"]["bench.csv"]
    assert entry["command"] == "python -m corelib " + " ".join(argv) and entry["profile"] == "ci"
    assert entry["code"] == code_hash(bench.run_benchmark) and entry["precision"] == "fp32"
