"""Pure metrics shared with `guide eval`: Wilson intervals, per-label rates, confusion."""

import math

import pytest

from guide.safety import metrics as M


def test_wilson_interval_known_values():
    low, high = M.wilson_interval(8, 10)
    assert low == pytest.approx(0.4902, abs=1e-3) and high == pytest.approx(0.9433, abs=1e-3)
    assert M.wilson_interval(0, 0) == (0.0, 1.0)
    low, high = M.wilson_interval(10, 10)
    assert high == 1.0 and low == pytest.approx(0.7225, abs=1e-3)
    with pytest.raises(ValueError):
        M.wilson_interval(5, 3)


def test_binary_and_per_label():
    expected = ["crisis", "crisis", "ok", "ok", "caution"]
    predicted = ["crisis", "ok", "crisis", "ok", "caution"]
    b = M.binary([e == "crisis" for e in expected], [p == "crisis" for p in predicted])
    assert (b.tp, b.fp, b.fn, b.tn) == (1, 1, 1, 2)
    assert b.recall.value == 0.5 and b.false_alarm.value == pytest.approx(1 / 3)
    per = M.per_label(expected, predicted)
    assert per["caution"].recall.value == 1.0 and per["crisis"].support == 2
    assert math.isnan(M.per_label(["a"], ["a"], ["b"])["b"].recall.value)


def test_confusion_table():
    c = M.confusion(["a", "a", "b"], ["a", "b", "b"], ["a", "b"])
    assert c.counts[("a", "b")] == 1
    table = c.format()
    assert "| a " in table and "total" in table


def test_length_mismatch_is_an_error():
    with pytest.raises(ValueError):
        M.confusion(["a"], [])
