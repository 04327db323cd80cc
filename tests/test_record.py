"""Recorded results (`corelib.experiments.record`): manifests written by the project's commands, verified on every test
run, and read by the chapters with a stale flag."""
import json

import pandas as pd
import pytest

from corelib.experiments import GridOptions, run_grid
from corelib.experiments.record import MANIFEST, RecordError, Run, load_recorded, update_manifest, verify_results
from corelib.profiles import ROOT
from corelib.utils import code_hash

CELLS = [{"method": m, "fraction": 0.1, "seed": s} for m in ("a", "b") for s in (0, 1)]


def _grid(path):
    return run_grid(CELLS, lambda c: {"acc": 0.5 + 0.1 * c["seed"]}, path, keys=("method", "fraction", "seed"),
                    config={"v": 1}, options=GridOptions(log=lambda *_: None))


def _record(path, code="code-1"):
    return update_manifest(path, Run(command="python -m corelib bench --profile cpu_full --record", profile="cpu_full",
                           code=code, device="cpu (2 threads)", precision="fp32"))


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
    from corelib import experiments

    out = tmp_path / "results" / "ci" / "bench.csv"
    monkeypatch.setattr(experiments, "benchmark_grid", lambda params, *a, **k: _grid(out))
    argv = ["bench", "--profile", "ci", "--methods", "random", "--out", str(out), "--record"]
    assert cli.main(argv) == 0
    entry = json.loads((out.parent / MANIFEST).read_text())["files"]["bench.csv"]
    assert entry["command"] == "python -m corelib " + " ".join(argv) and entry["profile"] == "ci"
    assert entry["code"] == code_hash(experiments.run_benchmark) and entry["precision"] == "fp32"
    from corelib.profiles import load_profile

    ci = load_profile("ci")  # one method × the profile's fractions and seeds, as the CLI counted them
    assert entry["cells"] == len(ci["bench_fractions"]) * len(ci["bench_seeds"])


def test_a_grid_over_several_sittings_stops_on_time_resumes_and_is_labelled_partial(tmp_path, monkeypatch):
    """--hours: no new cell after the budget (the cell under way finishes); the same command resumes; the manifest
    counts the grid's cells, and the page says how many are recorded so far."""
    import corelib.experiments.grid as grid

    clock = iter(range(0, 10 ** 6, 1000))  # every call of the clock: 1,000 s later
    monkeypatch.setattr(grid.time, "monotonic", lambda: next(clock))
    path = tmp_path / "bench.csv"
    messages = []
    first = run_grid(CELLS, lambda c: {"acc": 0.5}, path, keys=("method", "fraction", "seed"), config={"v": 1}, options=GridOptions(log=messages.append, hours=0.5))  # 1,800 s: the clock passes it after two cells
    assert 0 < len(first) < len(CELLS)
    assert any("run the same command again to continue" in m for m in messages)
    entry = update_manifest(path, Run(command="python -m corelib bench --hours 0.5", profile="cpu_full", code="c",
                            device="cpu", precision="fp32", cells=len(CELLS)))
    recorded = load_recorded(path, "c")
    assert recorded.partial and f"{len(first)} of the grid's 4 cells" in recorded.label()
    monkeypatch.setattr(grid.time, "monotonic", lambda: 0.0)
    done = run_grid(CELLS, lambda c: {"acc": 0.5}, path, keys=("method", "fraction", "seed"), config={"v": 1}, options=GridOptions(log=lambda *_: None, hours=0.5))
    assert len(done) == len(CELLS) and entry["cells"] == 4
    update_manifest(path, Run(command="x", profile="cpu_full", code="c", device="cpu", precision="fp32", cells=4))
    assert not load_recorded(path, "c").partial
    with pytest.raises(ValueError, match="hours=0 must be a positive number"):
        run_grid(CELLS, lambda c: {}, tmp_path / "other.csv", keys=("method", "fraction", "seed"), options=GridOptions(hours=0))


def test_the_commit_of_a_tree_copied_without_git_comes_from_the_environment(tmp_path, monkeypatch):
    import corelib.hashing as utils

    monkeypatch.setenv("CORELIB_COMMIT", "abc1234")
    assert utils.git_commit(ROOT) != "abc1234"  # inside the repository git answers
    monkeypatch.setattr(utils, "PACKAGE_DIR", tmp_path / "corelib")
    assert utils.git_commit(tmp_path) == "abc1234"
    monkeypatch.delenv("CORELIB_COMMIT")
    assert utils.git_commit(tmp_path) == "unknown"


def test_a_stale_label_names_the_modules_that_changed_and_the_path_inside_the_repository(tmp_path):
    """Per-module hashes in the manifest: a stale page names what changed (a module edited, added or removed),
    not only that something did; the path is the one a reader's checkout has (relative to the repository)."""
    folder = ROOT / "_build" / "test-record"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"bench-{tmp_path.name}.csv"
    try:
        _grid(path)
        update_manifest(path, Run(command="x", profile="cpu_full", code="c1", device="cpu", precision="fp32",
                        modules={"corelib.a": "1", "corelib.b": "2", "corelib.gone": "3"}))
        recorded = load_recorded(path, "c2", {"corelib.a": "1", "corelib.b": "9", "corelib.new": "4"})
        assert recorded.stale and recorded.changed == ["corelib.b", "corelib.gone", "corelib.new"]
        label = recorded.label()
        assert "(in `corelib.b`, `corelib.gone`, `corelib.new`)" in label
        assert f"`_build/test-record/{path.name}`" in label and str(ROOT) not in label
        assert load_recorded(path, "c1", {"corelib.a": "1"}).changed is None  # not stale: nothing to name
    finally:
        path.unlink(missing_ok=True)
        (folder / MANIFEST).unlink(missing_ok=True)


def test_without_per_module_hashes_git_names_the_changed_modules(tmp_path):
    """Manifests written before per-module hashes: git compares the recorded commit with the work tree, over the
    modules the hash covered; a commit git does not know gives None (unknown), never an invented list."""
    import subprocess

    import corelib.utils as utils

    repo = tmp_path / "repo"
    pkg = repo / "corelib"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from . import b\n")
    (pkg / "b.py").write_text("X = 1\n")
    (pkg / "c.py").write_text("Y = 1\n")  # outside a's closure
    git = lambda *args: subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=repo,
                                       check=True, capture_output=True, text=True).stdout
    git("init", "-q")
    git("add", ".")
    git("commit", "-qm", "recorded")
    commit = git("rev-parse", "--short", "HEAD").strip()
    assert utils.changed_since(commit, "corelib.a", pkg) == []
    (pkg / "b.py").write_text("X = 2\n")
    (pkg / "c.py").write_text("Y = 2\n")
    assert utils.changed_since(commit, "corelib.a", pkg) == ["corelib.b"]
    (pkg / "a.py").write_text("from . import b, d\n")
    (pkg / "d.py").write_text("Z = 1\n")  # new since the commit, not yet in git
    assert utils.changed_since(commit + "-dirty", "corelib.a", pkg) == ["corelib.a", "corelib.b", "corelib.d"]
    assert utils.changed_since("0" * 40, "corelib.a", pkg) is None
    hashes = utils.module_hashes("corelib.a", pkg)
    assert sorted(hashes) == ["corelib.a", "corelib.b", "corelib.d"] and all(len(h) == 16 for h in hashes.values())


def test_revalidation_adopts_the_new_code_hash_only_through_the_manifest_and_says_so(tmp_path):
    from corelib.experiments.record import revalidate_manifest

    path = tmp_path / "bench.csv"
    _grid(path)
    _record(path, code="old")
    before = path.read_bytes()
    entry = revalidate_manifest(path, "new", {"corelib.a": "1"}, ["a/0.1/0"], command="python -m corelib bench …")
    assert path.read_bytes() == before and verify_results(tmp_path) == []  # the table itself is untouched
    assert entry["code"] == "new" and entry["revalidated"][0]["from_code"] == "old"
    recorded = load_recorded(path, "new", {"corelib.a": "1"})
    assert not recorded.stale and "re-running a/0.1/0 with that code reproduced the recorded rows exactly" in recorded.label()
    path.write_bytes(before.replace(b"0.6", b"0.9"))
    with pytest.raises(RecordError, match="restore it before revalidating"):
        revalidate_manifest(path, "newer", {}, ["a/0.1/0"], command="x")
    with pytest.raises(RecordError, match="only a recorded table"):
        revalidate_manifest(tmp_path / "other.csv", "newer", {}, [], command="x")


def test_the_cli_revalidates_only_rows_it_reproduces_exactly(tmp_path, monkeypatch):
    """`--revalidate` re-runs the named cells into a temporary file and compares every result column with the
    recorded rows (timings and the grid configuration excepted): equal rows move the manifest to this code's hash;
    one differing value leaves the manifest as it was, prints the difference and exits 1."""
    import corelib.__main__ as cli
    from corelib import experiments

    out = tmp_path / "results" / "cpu_full" / "bench.csv"
    _grid(out)
    _record(out, code="old")
    manifest = (out.parent / MANIFEST).read_bytes()
    shift = {"value": 0.0}

    def rerun(params, methods, fractions, seeds, path, **kwargs):
        cells = [c for c in CELLS if c["method"] in methods and c["seed"] in seeds]
        return run_grid(cells, lambda c: {"acc": 0.5 + 0.1 * c["seed"] + shift["value"]}, path,
                        keys=("method", "fraction", "seed"), config={"v": 2}, options=GridOptions(log=lambda *_: None))

    monkeypatch.setattr(experiments, "benchmark_grid", rerun)
    argv = ["bench", "--profile", "ci", "--methods", "a", "--fractions", "0.1", "--seeds", "1", "--out", str(out),
            "--revalidate"]
    monkeypatch.setattr(cli.methods, "check_method", lambda m, track=None: None)
    shift["value"] = 0.01
    assert cli.main(argv) == 1 and (out.parent / MANIFEST).read_bytes() == manifest
    shift["value"] = 0.0
    assert cli.main(argv) == 0
    entry = json.loads((out.parent / MANIFEST).read_text())["files"]["bench.csv"]
    assert entry["code"] == code_hash(experiments.run_benchmark) and entry["revalidated"][0]["cells"] == ["a/0.1/1"]
    assert cli.main(argv) == 0  # now current: nothing to do
    assert len(json.loads((out.parent / MANIFEST).read_text())["files"]["bench.csv"]["revalidated"]) == 1
    assert cli.main(["bench", "--profile", "ci", "--out", str(out), "--revalidate"]) == 2  # the cells must be named


def test_compare_rows_names_each_differing_value_and_ignores_timings():
    from corelib.__main__ import compare_rows

    recorded = pd.DataFrame({"method": ["a"], "fraction": [0.1], "seed": [0], "acc": [0.5], "pgd": [float("nan")],
                             "cell_seconds": [3.0], "grid_config": ["x"]})
    same = recorded.assign(cell_seconds=9.0, grid_config="y")
    assert compare_rows(recorded, same) == []
    assert compare_rows(recorded, same.assign(acc=0.5000001)) == ["a/0.1/0: acc recorded 0.5, re-run 0.5000001"]
    assert compare_rows(recorded, same.assign(seed=1)) == ["a/0.1/1: not in the recorded table"]


def test_a_deleted_manifest_fails_the_check_instead_of_verifying_nothing(tmp_path):
    folder = tmp_path / "results" / "cpu_full"
    path = folder / "bench.csv"
    _grid(path)
    _record(path)
    assert verify_results(tmp_path / "results") == []
    (folder / MANIFEST).unlink()
    (problem,) = verify_results(tmp_path / "results")
    assert str(folder) in problem and "without a MANIFEST.json" in problem


def test_the_cli_reruns_named_cells_and_replaces_only_their_rows_saying_why(tmp_path, monkeypatch, capsys):
    """`--rerun REASON` runs the named cells with the current code into a hidden file beside the table, then replaces
    exactly their rows (every other row keeps its bytes, a new column is empty elsewhere), refreshes the checksum and
    records the cells and the reason, which the page's label states; the entry stays stale until revalidated. A
    re-run never adds cells and needs the cells named."""
    import corelib.__main__ as cli
    from corelib import experiments

    out = tmp_path / "results" / "cpu_full" / "bench.csv"
    _grid(out)
    _record(out, code="old")
    before = out.read_text().splitlines()

    def rerun(params, methods, fractions, seeds, path, **kwargs):
        cells = [c for c in CELLS if c["method"] in methods and c["seed"] in seeds]
        return run_grid(cells, lambda c: {"acc": 0.9, "warm_epochs": 1}, path, keys=("method", "fraction", "seed"),
                        config={"v": 2}, options=GridOptions(log=lambda *_: None))

    monkeypatch.setattr(experiments, "benchmark_grid", rerun)
    monkeypatch.setattr(cli.methods, "check_method", lambda m, track=None: None)
    argv = ["bench", "--profile", "ci", "--methods", "b", "--fractions", "0.1", "--seeds", "0", "1", "--out", str(out),
            "--rerun", "b's definition was corrected"]
    assert cli.main(argv) == 0
    table = pd.read_csv(out)
    assert table.loc[table.method == "b", "acc"].tolist() == [0.9, 0.9]
    assert table.loc[table.method == "a", "acc"].tolist() == [0.5, 0.6] and table.loc[table.method == "a", "warm_epochs"].isna().all()
    after = out.read_text().splitlines()
    assert [line.rsplit(",", 1)[0] for line in after[1:3]] == before[1:3]  # a's rows: the same text, one empty field
    assert not (out.parent / ".bench.rerun.csv").exists() and verify_results(tmp_path / "results") == []
    entry = json.loads((out.parent / MANIFEST).read_text())["files"]["bench.csv"]
    assert entry["reruns"][0]["cells"] == ["b/0.1/0", "b/0.1/1"] and entry["code"] == "old"
    label = load_recorded(out, code_hash(experiments.run_benchmark)).label()
    assert "the 2 cells of b, because b's definition was corrected" in label and "**Stale:**" in label
    monkeypatch.setattr(experiments, "benchmark_grid", lambda params, methods, *a, **k: run_grid(
        [{"method": "c", "fraction": 0.1, "seed": s} for s in a[1]], lambda c: {"acc": 0.1}, a[2], keys=("method", "fraction", "seed"),
        config={"v": 2}, options=GridOptions(log=lambda *_: None)))
    assert cli.main(argv) == 1 and "it does not add cells (add them with --add)" in capsys.readouterr().err
    added = argv[:-2] + ["--add", "method c is new"]
    assert cli.main(added) == 0
    table = pd.read_csv(out)
    assert table.method.tolist() == ["a", "a", "b", "b", "c", "c"] and table.loc[table.method == "c", "acc"].tolist() == [0.1, 0.1]
    entry = json.loads((out.parent / MANIFEST).read_text())["files"]["bench.csv"]
    assert entry["additions"][0]["cells"] == ["c/0.1/0", "c/0.1/1"] and entry["rows"] == 6
    assert "Added at commit" in load_recorded(out, "x").label() and verify_results(tmp_path / "results") == []
    assert cli.main(added) == 1 and "already has a row for 2 cell(s) to add" in capsys.readouterr().err
    assert cli.main(argv[:-2] + ["--add", "x", "--rerun", "y"]) == 2
    assert cli.main(["bench", "--profile", "ci", "--out", str(out), "--rerun", "why"]) == 2


def test_a_revalidation_skips_the_columns_a_recorded_row_never_had(tmp_path):
    """A column added to the grid after a table was recorded (empty in the recorded rows' text) cannot be compared:
    revalidation skips it for those rows, and still compares it where a row has it ('nan' is a value)."""
    import corelib.__main__ as cli

    out = tmp_path / "bench.csv"
    out.write_text("method,fraction,seed,acc,new,grid_config\na,0.1,0,0.5,,x\nb,0.1,0,0.6,nan,x\n")
    rerun = pd.DataFrame({"method": ["a", "b"], "fraction": [0.1, 0.1], "seed": [0, 0], "acc": [0.5, 0.6],
                          "new": [1.0, 1.0], "grid_config": ["y", "y"]})
    recorded = pd.read_csv(out)
    absent = cli.absent_columns(out)
    assert absent == {(("a", "0.1", "0"), "new")}
    assert cli.compare_rows(recorded, rerun, absent=absent) == ["b/0.1/0: new recorded nan, re-run 1.0"]
    assert len(cli.compare_rows(recorded, rerun)) == 2  # without the text, both would count as differences


def test_a_long_history_is_summed_up_in_the_label(tmp_path):
    """Several revalidations: the label states the latest and counts the others; many changed modules: it names
    the first eight and counts the rest (the manifest keeps everything)."""
    path = tmp_path / "bench.csv"
    _grid(path)
    _record(path, code="old")
    manifest = json.loads((tmp_path / MANIFEST).read_text())
    entry = manifest["files"]["bench.csv"]
    entry["revalidated"] = [{"commit": f"c{i}", "date": f"d{i}", "cells": [f"a/0.1/{i}"]} for i in range(3)]
    entry["modules"] = {f"corelib.m{i:02d}": "x" for i in range(12)}
    (tmp_path / MANIFEST).write_text(json.dumps(manifest))
    label = load_recorded(path, "new", {}).label()
    assert "Revalidated at commit `c2` (d2) (and 2 times before): re-running a/0.1/2 with that code" in label
    assert "`c0`" not in label and "`corelib.m07`" in label and "`corelib.m08`" not in label
    assert "and 4 more, listed in the manifest's module hashes" in label
