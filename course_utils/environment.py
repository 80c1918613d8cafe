"""What this Python environment has: versions, devices, memory, and what is missing."""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import io
import os
import platform
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

# (import name, pip name, why the course needs it)
REQUIRED = [
    ("numpy", "numpy", "arrays"),
    ("SimpleITK", "SimpleITK", "reading and writing medical images"),
    ("nibabel", "nibabel", "the NIfTI affine (RAS) view in notebook 01"),
    ("nilearn", "nilearn", "the MNI152 template behind the built-in dataset"),
    ("pandas", "pandas", "cohort tables"),
    ("matplotlib", "matplotlib", "figures"),
    ("ipywidgets", "ipywidgets", "the interactive slice viewer"),
    ("keras", "keras", "models (Keras 3)"),
    ("tensorflow", "tensorflow-cpu", "training and tf.data"),
]


@dataclass
class Check:
    """One line of the environment report."""

    name: str
    ok: bool
    detail: str
    fix: str = ""


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[io.StringIO]:
    """Hold back what C++ libraries write to the process's stderr (file descriptor 2).

    TensorFlow's import logs start-up lines (oneDNN, CPU features, absl) straight to
    descriptor 2, past Python's ``sys.stderr``; in a notebook they show as a red block
    under the first cell. They are kept in the yielded buffer instead (a failed import
    still raises, with its Python traceback).
    """
    held = io.StringIO()
    try:
        saved = os.dup(2)
    except OSError:  # no descriptor 2 (some embedded interpreters): nothing to hold back
        yield held
        return
    with tempfile.TemporaryFile(mode="w+b") as sink:
        sys.stderr.flush()
        os.dup2(sink.fileno(), 2)
        try:
            yield held
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            held.write(sink.read().decode(errors="replace"))


def _probe(module: str) -> tuple[str | None, str]:
    """(version, "") if ``module`` imports, else (None, why): missing, or broken and how."""
    try:
        with _quiet_stderr():
            mod = importlib.import_module(module)
    except ImportError as exc:
        if exc.name == module:  # not installed (or blocked with sys.modules[name] = None)
            return None, "missing"
        return None, f"broken: {type(exc).__name__}: {exc}"
    except Exception as exc:  # a broken install fails in its own way; the report must go on
        return None, f"broken: {type(exc).__name__}: {exc}"
    return str(getattr(mod, "__version__", getattr(mod, "Version", lambda: "?"))), ""


def _version(module: str) -> str | None:
    return _probe(module)[0]


def versions() -> dict[str, str | None]:
    """Versions of Python and the course's main libraries (None when missing)."""
    result: dict[str, str | None] = {"python": platform.python_version()}
    for module, _pip, _why in REQUIRED:
        result[module] = _version(module)
    if result.get("SimpleITK") is not None:
        import SimpleITK as sitk

        result["SimpleITK"] = sitk.Version_VersionString()
    return result


def gpus() -> list[str]:
    """Names of the GPUs TensorFlow can see (empty without TensorFlow or a GPU)."""
    if _version("tensorflow") is None:  # missing or broken: check() says which
        return []
    import tensorflow as tf

    return [d.name for d in tf.config.list_physical_devices("GPU")]


def check() -> list[Check]:
    """Check the environment; each failed line says how to fix it."""
    checks = [
        Check(
            "Python",
            sys.version_info >= (3, 10),
            platform.python_version(),
            "the course needs Python 3.10 or newer",
        )
    ]
    for module, pip_name, why in REQUIRED:
        version, problem = _probe(module)
        fix = (
            "run `make setup` in the course folder, or `pip install -e '.[cpu]'`"
            if module in ("tensorflow", "keras")
            else f"run `make setup`, or `pip install {pip_name}`"
        )
        if problem.startswith("broken"):
            fix = f"reinstall it: `pip install --force-reinstall {pip_name}`, or {fix}"
        checks.append(Check(module, version is not None, version or f"{problem} ({why})", fix))
    if _version("keras"):
        import keras

        backend = keras.backend.backend()
        checks.append(Check("Keras backend", True, backend))
        major = int(str(keras.__version__).split(".")[0])
        checks.append(Check("Keras 3", major >= 3, keras.__version__,
                            "the course needs Keras 3: `pip install -U 'tensorflow>=2.16'`"))
    found = gpus()
    checks.append(Check("GPU", True, ", ".join(found) if found else "none (CPU only: use ci or binder)"))
    mem = psutil.virtual_memory()
    avail_gb = mem.available / 2**30
    checks.append(Check("Memory available", avail_gb >= 1.5, f"{avail_gb:.1f} GB of {mem.total / 2**30:.1f} GB",
                        "close other notebooks, or use the ci preset"))
    checks.append(Check("CPU cores", True, str(os.cpu_count())))
    return checks


def report() -> bool:
    """Print the environment check as a short table; return True if nothing is missing."""
    ok = True
    for c in check():
        mark = "✅" if c.ok else "❌"
        line = f"{mark} {c.name:<17} {c.detail}"
        if not c.ok:
            ok = False
            line += f"\n     fix: {c.fix}"
        print(line)
    return ok


def summary() -> str:
    """One line of versions, for the setup cell of every notebook."""
    v = versions()
    parts = [f"Python {v['python']}"]
    for key, label in (("tensorflow", "TensorFlow"), ("keras", "Keras"), ("SimpleITK", "SimpleITK")):
        parts.append(f"{label} {v.get(key) or 'MISSING'}")
    return " | ".join(parts)


_NON_INTERACTIVE_RUNNERS = ("papermill", "nbval", "pytest", "nbconvert", "nbclient",
                            "nbmake", "jupyter-execute", "runipy", "course_utils.reports")
_LIVE_FRONT_ENDS = ("jupyter-lab", "jupyter-notebook", "jupyter-server", "jupyterhub",
                    "jupyter lab", "jupyter notebook", "jupyter_server", "jupyterlab", "voila",
                    "vscode", "code-server", "pycharm", "spyder")


def widgets_available() -> bool:
    """True if a live notebook front end can show ipywidgets (JupyterLab, Notebook, Colab).

    Decided without guessing from the runner's name alone: ``COURSE_WIDGETS=0``/``1``
    (set by ``make reports``/``make notebooks``, or by you) wins; then Colab is live; a
    kernel under a headless runner (papermill, nbval, nbconvert, ...) is not; a kernel
    started by a Jupyter server (JupyterLab, Notebook, JupyterHub, Voila) or an editor
    (VS Code, PyCharm) is. Anything else gets the static pictures, which always show.
    """
    forced = os.environ.get("COURSE_WIDGETS", "").strip().lower()
    if forced in {"0", "false", "no", "off"}:
        return False
    if forced in {"1", "true", "yes", "on"}:
        return True
    if not _in_kernel():
        return False  # terminal IPython or plain Python
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    if "google.colab" in sys.modules:
        return True
    return _launcher() == "front end"


def progress_bar(iterable: Any = None, **options: Any) -> Any:
    """A tqdm bar: the notebook widget where a live front end shows it, plain text elsewhere.

    A widget saved in a report (papermill, nbval, ``COURSE_WIDGETS=0``) has no front end to
    move it, so its page shows "0%" forever; text shows the final count. In a kernel the
    text goes to stdout (no red stderr block), updated at most every 2 s.

    Parameters: ``iterable`` to wrap (or None, with ``total=``); ``options`` go to tqdm
    (``total``, ``desc``, ``unit``, ``disable``, ...).
    """
    if widgets_available():
        from tqdm.auto import tqdm  # the widget in a notebook kernel, text elsewhere
    else:
        from tqdm.std import tqdm

        if _in_kernel():
            options.setdefault("file", sys.stdout)
            options.setdefault("mininterval", 2.0)
    return tqdm(iterable, **options)


def _in_kernel() -> bool:
    """True inside a Jupyter kernel (live, under papermill/nbval, Colab's), False in a terminal."""
    if "ipykernel" not in sys.modules:
        return False
    from ipykernel.zmqshell import ZMQInteractiveShell  # Colab's shell is a subclass
    from IPython import get_ipython

    return isinstance(get_ipython(), ZMQInteractiveShell)


def _launcher() -> str:
    """"runner", "front end" or "unknown": what started this kernel, from its ancestors' command lines."""
    try:
        import psutil
    except ImportError:
        return "unknown"
    try:
        proc = psutil.Process().parent()
        for _ in range(8):
            if proc is None:
                break
            cmd = " ".join(proc.cmdline()).lower()
            if any(name in cmd for name in _NON_INTERACTIVE_RUNNERS):
                return "runner"
            if any(name in cmd for name in _LIVE_FRONT_ENDS):
                return "front end"
            proc = proc.parent()
    except (psutil.Error, OSError):
        pass
    return "unknown"


def tensorboard(logdir: str | os.PathLike) -> bool:
    """Open TensorBoard on ``logdir`` inside the notebook; False where no live front end can show it.

    Works under ``make lab`` (the kernel's own ``bin`` folder is put on PATH, where
    ``tensorboard`` lives), on JupyterHub/Binder (through jupyter-server-proxy: the
    browser cannot reach the server's localhost) and on Colab. In reports and CI it
    returns False: draw the logged curves instead (``run_logs.logged_history``).

    Parameters: ``logdir``: the folder of TensorBoard event files (a run's ``logs``).
    """
    if not widgets_available():
        return False
    from IPython import get_ipython

    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX")
    if prefix and importlib.util.find_spec("jupyter_server_proxy") is not None:
        os.environ.setdefault("TENSORBOARD_PROXY_URL", prefix.rstrip("/") + "/proxy/%PORT%/")
    shell = get_ipython()
    shell.run_line_magic("load_ext", "tensorboard")
    shell.run_line_magic("tensorboard", f'--logdir "{Path(logdir)}"')
    return True


if __name__ == "__main__":  # python -m course_utils.environment
    raise SystemExit(0 if report() else 1)
