"""Units users write: durations, shares and sigmas parse or fail clearly."""

from __future__ import annotations

import pytest

from mlchaos.schema import parse_duration, parse_share, parse_sigma


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30.0), ("2m", 120.0), ("500ms", 0.5), ("1h", 3600.0), (5, 5.0), ("1.5s", 1.5)],
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("text", "share"), [("5%", 0.05), ("100%", 1.0), (0.25, 0.25), ("0.5%", 0.005)]
)
def test_shares(text: object, share: float) -> None:
    assert parse_share(text) == pytest.approx(share)


@pytest.mark.parametrize(
    ("text", "sigma"), [("0.5sigma", 0.5), ("-1sigma", -1.0), ("2σ", 2.0), (0.5, 0.5)]
)
def test_sigmas(text: object, sigma: float) -> None:
    assert parse_sigma(text) == sigma


@pytest.mark.parametrize(
    ("parse", "text", "message"),
    [
        (parse_duration, "soon", "expected a duration such as 30s, 2m or 500ms, got 'soon'"),
        (parse_duration, True, "expected a duration such as 30s or 2m, got True"),
        (parse_share, "0%", "a share must be above 0% and at most 100%, got '0%'"),
        (parse_share, 2, "a share must be above 0% and at most 100%, got 2"),
        (parse_sigma, "half", "expected a shift such as 0.5sigma or -1sigma, got 'half'"),
    ],
)
def test_bad_units_say_what_was_expected(parse: object, text: object, message: str) -> None:
    with pytest.raises(ValueError) as err:
        parse(text)  # type: ignore[operator]
    assert str(err.value) == message
