import pytest

from calc.stats import mean, median, percentile


def test_mean():
    assert mean([1, 2, 3, 4]) == 2.5


def test_mean_empty():
    with pytest.raises(ValueError):
        mean([])


def test_median_odd_length():
    assert median([5, 1, 3]) == 3


def test_median_empty():
    with pytest.raises(ValueError):
        median([])


def test_percentile_rejects_out_of_range():
    with pytest.raises(ValueError):
        percentile([1, 2, 3], 101)
