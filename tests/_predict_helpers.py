"""A shared assertion for change-predict-verify checks (the ``_core.change_first`` guard)."""

from __future__ import annotations

from course_utils.exercises._core import VERIFY_ENV


def assert_unchanged_not_judged(check, predictions, args, line, namespace, monkeypatch, capsys):
    """Each prediction made before the marked line was changed is sent back to change it
    (False, no answer given away); in verify mode (COURSE_VERIFY_SOLUTIONS=1) the check,
    called from ``namespace`` (the notebook's variables, unchanged), runs its worked
    solution there (``_verify`` raises if it fails its check) and passes."""
    monkeypatch.delenv(VERIFY_ENV, raising=False)
    for prediction in predictions:
        assert check(prediction, *args) is False
        out = capsys.readouterr().out
        assert "Change the marked line first" in out and line in out
        assert "answer is" not in out and "Not this time" not in out
    monkeypatch.setenv(VERIFY_ENV, "1")
    scope = {**namespace, "check": check, "args": args}
    exec("ok = check(None, *args)", scope)  # noqa: S102 - a notebook cell calling the check
    assert scope["ok"] is False and "Not answered yet" in capsys.readouterr().out
