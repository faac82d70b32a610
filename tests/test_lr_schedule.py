"""The learning-rate schedules a job block can choose (``parameters.lr_schedule``)."""

import keras
import pytest

from modules.parameters import Parameters, ParameterError
from modules.tasks.common import cosine_learning_rate, learning_rate_callback


def test_cosine_warms_up_linearly_then_decays_to_min_lr_at_the_last_epoch():
    rates = [cosine_learning_rate(e, 1e-3, 1e-5, n_epochs=10, warmup_epochs=3) for e in range(10)]
    assert rates[:3] == pytest.approx([2.5e-4, 5e-4, 7.5e-4])
    assert rates[3] == pytest.approx(1e-3)  # the peak, right after the warm-up
    assert rates[-1] == pytest.approx(1e-5)
    assert all(a > b for a, b in zip(rates[3:], rates[4:]))  # decreasing after the peak
    halfway = cosine_learning_rate(3 + 3, 1e-3, 1e-5, n_epochs=10, warmup_epochs=3)
    assert halfway == pytest.approx(1e-5 + 0.5 * (1e-3 - 1e-5))


def test_the_schedule_is_chosen_by_parameter_and_a_misspelt_one_fails():
    params = Parameters()
    assert isinstance(learning_rate_callback(params, "min"), keras.callbacks.ReduceLROnPlateau)
    params.lr_schedule = "cosine"
    assert isinstance(learning_rate_callback(params, "min"),
                      keras.callbacks.LearningRateScheduler)
    with pytest.raises(ParameterError, match="did you mean 'cosine'"):
        params.lr_schedule = "cosin"
