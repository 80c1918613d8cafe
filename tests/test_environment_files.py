"""environment.yml, binder/ and pyproject.toml describe the same environment."""

import re
from pathlib import Path

import tomllib
import yaml

ROOT = Path(__file__).resolve().parents[1]


def requirement_names(requirements):
    return {re.split(r"[<>=!\[ ;]", r, maxsplit=1)[0].lower(): r for r in requirements}


def pip_list(env_file):
    env = yaml.safe_load(env_file.read_text(encoding="utf-8"))
    pips = [d for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
    return env, pips[0]["pip"]


def expected():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return project["dependencies"] + project["optional-dependencies"]["cpu"]


def test_environment_yml_matches_pyproject():
    env, pip = pip_list(ROOT / "environment.yml")
    assert sorted(pip) == sorted(expected())
    python = [d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python")]
    assert python and float(python[0].split("=")[1]) >= 3.10


def test_binder_builds_the_same_environment():
    binder_env, binder_pip = pip_list(ROOT / "binder" / "environment.yml")
    env, pip = pip_list(ROOT / "environment.yml")
    assert binder_env["dependencies"][:-1] == env["dependencies"][:-1]
    assert requirement_names(binder_pip) == requirement_names(pip)
    post = (ROOT / "binder" / "postBuild").read_text(encoding="utf-8")
    assert "pip install --no-deps -e ." in post
    assert "course_utils data synthetic --preset binder" in post


def test_tensorflow_only_through_extras():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert not any(n.startswith("tensorflow") for n in requirement_names(project["dependencies"]))
    extras = project["optional-dependencies"]
    assert any(r.startswith("tensorflow-cpu") for r in extras["cpu"])
    assert any(r.startswith("tensorflow[and-cuda]") for r in extras["gpu"])
