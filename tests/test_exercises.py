"""The self-check pattern: a verdict and a hint, never a traceback."""

import inspect

import numpy as np

from course_utils import exercises


def test_unanswered_wrong_and_right(capsys):
    assert exercises.check_preset_choice(None) is False
    assert "Not answered yet" in capsys.readouterr().out
    assert exercises.check_preset_choice("full") is False
    out = capsys.readouterr().out
    assert "Not quite" in out and "2 GB" in out  # the hint points at what to look at
    assert exercises.check_preset_choice(" Binder ") is True
    assert "Correct" in capsys.readouterr().out


def test_close_compares_shape_and_values():
    assert exercises.close([1.0, 2.0], np.array([1.0, 2.0 + 1e-9]))
    assert not exercises.close([1.0, 2.0], [1.0, 2.0, 3.0])
    assert not exercises.close("abc", [1.0])
    assert not exercises.close(None, [1.0])
    assert "(3, 2)" in exercises.shape_hint(np.zeros((2, 3)), (3, 2))


def test_every_check_function_has_a_docstring_and_handles_no_answer(capsys):
    checks = [getattr(exercises, n) for n in dir(exercises) if n.startswith("check_")]
    assert checks
    for check in checks:
        assert check.__doc__, check.__name__
        required = [
            p for p in inspect.signature(check).parameters.values()
            if p.default is inspect.Parameter.empty and p.kind == p.POSITIONAL_OR_KEYWORD
        ]
        if len(required) == 1:  # the answer only: an empty answer gets a hint, not an error
            assert check(None) is False, check.__name__
            assert "Not answered yet" in capsys.readouterr().out, check.__name__


def _inputs():
    """Valid non-answer arguments and one right answer for every check_* function."""
    import SimpleITK as sitk

    image = sitk.Image(4, 5, 6, sitk.sitkFloat32)
    image.SetSpacing((2.0, 1.5, 1.0))
    image.SetOrigin((10.0, -4.0, 3.0))
    image.SetDirection((-1, 0, 0, 0, -1, 0, 0, 0, 1))
    rng = np.random.default_rng(0)
    volume = rng.normal(size=(4, 5, 6))
    mask = volume > 0
    label = rng.integers(0, 3, (4, 5, 6))
    truth, train = np.array([30.0, 50.0, 70.0]), np.array([40.0, 60.0])
    return {  # name: (arguments after the answer, a right answer)
        "check_preset_choice": ((), "binder"),
        "check_world_point": ((image, (1, 2, 3)),
                              image.TransformContinuousIndexToPhysicalPoint((1, 2, 3))),
        "check_orientation_code": ((image,), "RAS"),
        "check_batch_megabytes": (((8, 16, 16), 3), 8 * 16 * 16 * 3 * 4 / 2**20),
        "check_io_bound": (({"memory": 0.1, "generator": 0.3}, 0.2), ["generator"]),
        "check_masked_whitening": ((volume, mask),
                                   (volume - volume[mask].mean()) / volume[mask].std()),
        "check_brain_window": ((), (0, 80)),
        "check_flip_pair": ((volume, label), (np.flip(volume, 2), np.flip(label, 2))),
        "check_median_frequency": (([label], 3), None),
        "check_window_count": (((48, 56, 48), 24, 0.5), 36),
        "check_baseline_mae": ((truth, train), np.mean(np.abs(truth - 50.0))),
        "check_majority_accuracy": (([0, 1, 1], [1, 1, 0]), 2 / 3),
        "check_psnr": ((volume + 0.1, volume), 10 * np.log10(np.ptp(volume) ** 2 / 0.01)),
        "check_low_res_shape": (((48, 56, 44), 4), [12, 14, 11]),
    }


WRONG_ANSWERS = [
    "text", "", 5, -1, 2.5, float("nan"), float("inf"), True, 10**400, 1j, [1, [2, 3]],
    [[1, 2], [3]], {"a": 1}, {1, 2}, object(), np.array(["a", "b"]), [None, None], (i for i in ()),
]


def test_wrong_types_get_a_verdict_never_a_traceback(capsys):
    # Issue #14: check_io_bound(5) raised TypeError and a ragged list made np.shape raise.
    inputs = _inputs()
    names = sorted(n for n in dir(exercises) if n.startswith("check_"))
    assert names == sorted(inputs), "give every check_* inputs here"
    for name, (args, right) in inputs.items():
        check = getattr(exercises, name)
        for answer in WRONG_ANSWERS:
            assert check(answer, *args) is False, (name, answer)
            out = capsys.readouterr().out
            assert out.startswith("❌ Not quite.") and out.count("\n") == 1, (name, answer, out)
        if right is not None:
            assert check(right, *args) is True, name
            capsys.readouterr()
