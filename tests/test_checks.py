"""course_utils.checks: one validator per idiom, each naming the argument and its range."""

import numpy as np
import pytest

from course_utils import checks
from course_utils.errors import ConfigError


@pytest.mark.parametrize("value, expected", [(3, 3), (3.0, 3), (np.int64(7), 7), (np.float32(2), 2)])
def test_integer_accepts_whole_numbers(value, expected):
    assert checks.integer(value, "epochs", minimum=1) == expected
    assert type(checks.integer(value, "epochs")) is int


@pytest.mark.parametrize("value", [2.5, True, "3", None, float("nan"), float("inf"), [3]])
def test_integer_refuses_what_is_not_a_whole_number(value):
    with pytest.raises(ConfigError, match="epochs must be a whole number") as info:
        checks.integer(value, "epochs")
    assert info.value.name == "epochs"


def test_integer_states_the_range():
    with pytest.raises(ConfigError, match=r"steps_per_epoch must be a whole number >= 1, got 0"):
        checks.integer(0, "steps_per_epoch", minimum=1)
    with pytest.raises(ConfigError, match=r"in \[1, 8\]"):
        checks.integer(9, "workers", minimum=1, maximum=8)


def test_number_bounds_open_and_closed():
    assert checks.number(0, "overlap", minimum=0, maximum=1, open_max=True) == 0.0
    with pytest.raises(ConfigError, match=r"overlap must be a number in \[0, 1\), got 1.5"):
        checks.number(1.5, "overlap", minimum=0, maximum=1, open_max=True)
    with pytest.raises(ConfigError, match=r"in \[0, 1\)"):
        checks.number(1, "overlap", minimum=0, maximum=1, open_max=True)
    with pytest.raises(ConfigError, match=r"learning_rate must be a number > 0"):
        checks.number(-1e-3, "learning_rate", minimum=0, open_min=True)
    for bad in (True, "0.1", float("nan"), None):
        with pytest.raises(ConfigError, match="finite number"):
            checks.number(bad, "learning_rate")


def test_boolean_is_strict():
    assert checks.boolean(np.bool_(True), "augment") is True
    for bad in (1, "yes", None):
        with pytest.raises(ConfigError, match="augment must be True or False"):
            checks.boolean(bad, "augment")


@pytest.mark.parametrize("value, expected", [
    (2, (2, 2, 2)), ([32, 24, 16], (32, 24, 16)), ((4.0, 4, 4), (4, 4, 4)),
    (np.array([8, 8, 8]), (8, 8, 8)), ([5], (5, 5, 5)),
])
def test_triple_normalises(value, expected):
    assert checks.triple(value, "patch_size") == expected


@pytest.mark.parametrize("value", [-3, 0, [1, 2], [1, 2, 3, 4], [2, 2.5, 2], "32", None, [[1, 2, 3]] * 2])
def test_triple_refuses(value):
    with pytest.raises(ConfigError, match=r"patch_size must be one whole number") as info:
        checks.triple(value, "patch_size")
    assert info.value.name == "patch_size"


def test_triple_minimum_zero_allows_zero():
    assert checks.triple(0, "margin", minimum=0) == (0, 0, 0)


def test_int_list():
    assert checks.int_list((8, 16.0, 32), "filters") == [8, 16, 32]
    with pytest.raises(ConfigError, match=r"filters must be a list of whole numbers such as \[8, 16, 32\], got 16"):
        checks.int_list(16, "filters")
    with pytest.raises(ConfigError, match=">= 1"):
        checks.int_list([8, 0], "filters")
    with pytest.raises(ConfigError, match="at least 2"):
        checks.int_list([8], "filters", min_length=2)
    with pytest.raises(ConfigError):
        checks.int_list("8,16", "filters")


def test_option_suggests_the_closest():
    options = ("synthetic", "ixi", "mrbrains13")
    assert checks.option("ixi", options, "dataset") == "ixi"
    with pytest.raises(ConfigError, match=r"unknown dataset 'synthtic' \(did you mean 'synthetic'\?\); "
                                          r"choose one of 'synthetic', 'ixi', 'mrbrains13'"):
        checks.option("synthtic", options, "dataset")
    with pytest.raises(ConfigError, match="choose one of") as info:
        checks.option(3, options, "dataset")
    assert "did you mean" not in str(info.value)
