"""The launch path a reader takes from a chapter's Colab or Binder link: a fresh Python environment without corelib,
whose first setup cell installs corelib from the repository URL (`_config.yml: repository.url`), then the chapter
runs. Tested as Colab would run it but without a network: the repository is a `file://` clone of this checkout, pip
may not reach an index (PIP_NO_INDEX), and corelib's dependencies (torch & co., gigabytes) come from this checkout's
environment through a path file, from which corelib itself is left out."""
import os
import shutil
import site
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from corelib import profiles
from corelib.book.chapters import chapter_parameters

ROOT = profiles.ROOT


def _clone(tmp: Path) -> Path:
    """This checkout's files (tracked and new, not ignored) as a git repository of their own: what a host serves."""
    repo = tmp / "repo"
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True,
                            check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        if (ROOT / name).is_file():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, repo / name)
    git = ["git", "-c", "user.name=launch-test", "-c", "user.email=launch@test", "-c", "init.defaultBranch=main"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "snapshot"]):
        subprocess.run([*git, *args], cwd=repo, check=True, capture_output=True)
    return repo


def _dependencies_without_corelib(tmp: Path) -> Path:
    """A folder of links to every package of this environment except corelib (its editable install included)."""
    deps = tmp / "deps"
    deps.mkdir()
    source = Path(site.getsitepackages()[0])
    for entry in source.iterdir():
        if not entry.name.lower().startswith(("corelib", "__editable__")) and entry.suffix != ".pth":
            (deps / entry.name).symlink_to(entry)
    return deps


@pytest.mark.skipif(not (ROOT / ".git").exists() or shutil.which("git") is None, reason="needs a git checkout")
def test_a_fresh_environment_installs_corelib_from_the_repository_url_and_runs_chapter_1(tmp_path):
    repo = _clone(tmp_path)
    venv = tmp_path / "venv"
    subprocess.run([getattr(sys, "_base_executable", sys.executable), "-m", "venv", "--without-pip", str(venv)],
                   check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    (Path(purelib) / "dependencies.pth").write_text(str(_dependencies_without_corelib(tmp_path)) + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    env.update(PIP_NO_INDEX="1", PIP_NO_BUILD_ISOLATION="0", PIP_DISABLE_PIP_VERSION_CHECK="1", PYTHONNOUSERSITE="1",
               PATH=f"{venv / 'bin'}:{env.get('PATH', '')}")
    missing = subprocess.run([str(python), "-c", "import importlib.util as u; print(u.find_spec('corelib'))"],
                             capture_output=True, text=True, env=env, cwd=tmp_path)
    assert missing.stdout.strip() == "None", "the fresh environment must start without corelib"

    params = chapter_parameters("01_baseline", profiles.load_profile("smoke"))
    url = f"file://localhost{repo}"  # pip's requirement parser wants a host in a git+file URL
    params.update(repository_url=url, cache_dir=str(tmp_path / "cache"), results_dir=str(tmp_path / "results"))
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    work = tmp_path / "work"
    work.mkdir()
    done = subprocess.run([str(python), "-m", "papermill", str(repo / "notebooks" / "01_baseline.ipynb"),
                           str(tmp_path / "out.ipynb"), "-f", str(tmp_path / "params.yaml"), "--cwd", str(work),
                           "-k", "python3"], capture_output=True, text=True, env=env, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]

    where = subprocess.run([str(python), "-c", "import corelib; print(corelib.__file__)"], capture_output=True,
                           text=True, env=env, cwd=tmp_path, check=True).stdout.strip()
    assert Path(where).is_relative_to(venv), f"corelib imported from {where}, not from the fresh environment"
    installed = next(Path(purelib).glob("corelib-*.dist-info"))
    assert url in (installed / "direct_url.json").read_text()  # installed from the repository URL
    assert (tmp_path / "results" / "evaluation.csv").is_file()


def test_binder_builds_the_books_environment_from_the_repository():
    """What Binder (repo2docker) reads: binder/requirements.txt (the book's pins, CPU wheels), the Python version
    the package supports, and a postBuild that installs corelib from the checkout and fetches CIFAR-10."""
    import re
    import tomllib

    binder = ROOT / "binder"
    requirements = (binder / "requirements.txt").read_text().splitlines()
    assert "-r ../requirements.txt" in requirements and (binder / requirements[-1].split()[-1]).resolve().is_file()
    assert any(line.startswith("--extra-index-url https://download.pytorch.org/whl/cpu") for line in requirements)
    runtime = (binder / "runtime.txt").read_text().strip()
    minimum = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert re.fullmatch(r"python-3\.\d+", runtime) and tuple(map(int, runtime[7:].split("."))) >= tuple(
        map(int, minimum.lstrip(">=").split(".")))
    post = binder / "postBuild"
    assert os.access(post, os.X_OK), "postBuild must be executable"
    text = post.read_text()
    assert "pip install --no-deps -e ." in text and "python -m corelib.data" in text
    assert subprocess.run(["bash", "-n", str(post)]).returncode == 0
