import pytest

from recipes.own_middleware import Timing
from wsgistack.testing import CASES, check_layer


@pytest.mark.parametrize(("shape", "iteration"), CASES)
def test_timing_keeps_the_wsgi_contract(shape: str, iteration: str) -> None:
    check_layer(lambda app: Timing(app, metric="view"), shape, iteration)
