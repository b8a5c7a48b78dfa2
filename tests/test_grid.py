"""Price grids (core/grid.py) against API.md §4's documented structures and a brute-force reference.

The reference enumerates every micro-dollar in (0, 1) that lies on a range (``start + k * step <= end``), so the
properties do not trust the grid's own tick list.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kalshibot.core.fixed import ONE_DOLLAR, Price
from kalshibot.core.grid import PriceGrid, PriceRange
from kalshibot.errors import GridError


def _d(text: str) -> int:
    """'0.105' -> micros, written out by hand so the test does not lean on the parser under test."""
    whole, _, frac = text.partition(".")
    return int(whole) * 1_000_000 + int(frac.ljust(6, "0"))


def test_linear_cent_from_api_md() -> None:
    g = PriceGrid.from_wire([{"start": "0.0000", "end": "1.0000", "step": "0.0100"}], "linear_cent")
    assert g.min_price == _d("0.01") and g.max_price == _d("0.99")  # 0 and 1 are not tradable prices
    assert len(g.ticks) == 99
    assert g.is_valid(_d("0.56")) and not g.is_valid(_d("0.565")) and not g.is_valid(0) and not g.is_valid(ONE_DOLLAR)
    assert g.tick_up(_d("0.56")) == _d("0.57") and g.tick_down(_d("0.56")) == _d("0.55")
    assert g.tick_up(_d("0.99")) is None and g.tick_down(_d("0.01")) is None
    # maker's favour: a bid rounds down, an ask rounds up
    assert g.round_bid(_d("0.5699")) == _d("0.56") and g.round_ask(_d("0.5601")) == _d("0.57")
    assert g.round_bid(_d("0.56")) == _d("0.56") == g.round_ask(_d("0.56"))
    assert g.round_bid(_d("0.005")) is None and g.round_ask(_d("0.995")) is None
    assert g.round_bid(_d("0.999")) == _d("0.99") and g.round_ask(_d("0.001")) == _d("0.01")
    assert g == PriceGrid.linear_cent()


def test_tapered_deci_cent_from_api_md() -> None:
    # $0.00-0.10 -> $0.001; $0.10-0.90 -> $0.01; $0.90-1.00 -> $0.001 (API.md §4)
    g = PriceGrid.from_wire([], "tapered_deci_cent")
    assert g.min_price == _d("0.001") and g.max_price == _d("0.999")
    assert g.is_valid(_d("0.099")) and g.is_valid(_d("0.1")) and g.is_valid(_d("0.905"))
    assert not g.is_valid(_d("0.105")) and not g.is_valid(_d("0.895"))
    assert g.tick_up(_d("0.099")) == _d("0.1") and g.tick_up(_d("0.1")) == _d("0.11")
    assert g.tick_down(_d("0.901")) == _d("0.9") and g.tick_down(_d("0.9")) == _d("0.89")
    assert g.tick_up(_d("0.9")) == _d("0.901")
    assert g.round_bid(_d("0.105")) == _d("0.1") and g.round_ask(_d("0.105")) == _d("0.11")
    assert g.tick_size_at(_d("0.05")) == _d("0.001") and g.tick_size_at(_d("0.5")) == _d("0.01")
    assert g.tick_size_at(_d("0.1")) == _d("0.001")  # the boundary belongs to both ranges: the finer step
    assert len(g.ticks) == 99 + 81 + 99  # 0.001..0.099, 0.10..0.90, 0.901..0.999


def test_deci_cent_and_wire_round_trip() -> None:
    g = PriceGrid.from_wire(None, "deci_cent")
    assert len(g.ticks) == 999
    again = PriceGrid.from_wire(g.to_wire(), "deci_cent")
    assert again.ticks == g.ticks and again.to_wire() == [{"start": "0.0000", "end": "1.0000", "step": "0.0010"}]


@pytest.mark.parametrize(
    ("ranges", "structure"),
    [
        ([], "banded_centi_cent"),  # a structure without documented ranges: price_ranges is required
        (None, ""),
        ("0.01", ""),
        (["0.01"], ""),
        ([{"start": "0.00", "end": "1.00"}], ""),  # no step
        ([{"start": "0.00", "end": "1.00", "step": "0"}], ""),
        ([{"start": "0.50", "end": "0.40", "step": "0.01"}], ""),
        ([{"start": "0.00", "end": "1.50", "step": "0.01"}], ""),
        ([{"start": "x", "end": "1.00", "step": "0.01"}], ""),
        ([{"start": "0.00", "end": "0.005", "step": "0.01"}], ""),  # only 0 is on it: nothing tradable
    ],
)
def test_malformed_grids_raise_grid_error(ranges: object, structure: str) -> None:
    with pytest.raises(GridError):
        PriceGrid.from_wire(ranges, structure)


def test_tick_size_outside_the_grid() -> None:
    g = PriceGrid.from_ranges([PriceRange(Price(_d("0.2")), Price(_d("0.4")), Price(_d("0.05")))])
    assert g.ticks == (_d("0.2"), _d("0.25"), _d("0.3"), _d("0.35"), _d("0.4"))
    with pytest.raises(GridError):
        g.tick_size_at(_d("0.5"))


# --- properties against a brute-force reference ---------------------------------------------------------------


@st.composite
def grids(draw: st.DrawFn) -> tuple[PriceGrid, list[int]]:
    steps = [100, 500, 1000, 2500, 10_000, 50_000]
    out: list[PriceRange] = []
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        step = draw(st.sampled_from(steps))
        start = draw(st.integers(min_value=0, max_value=ONE_DOLLAR // step - 1)) * step
        end = draw(st.integers(min_value=start // step + 1, max_value=ONE_DOLLAR // step)) * step
        out.append(PriceRange(Price(start), Price(end), Price(step)))
    reference = sorted(
        {p for r in out for p in range(r.start, r.end + 1, r.step) if 0 < p < ONE_DOLLAR},
    )
    if not reference:
        with pytest.raises(GridError):
            PriceGrid.from_ranges(out)
        out = [PriceRange(Price(0), Price(ONE_DOLLAR), Price(10_000))]
        reference = [p for p in range(10_000, ONE_DOLLAR, 10_000)]
    return PriceGrid.from_ranges(out), reference


@settings(max_examples=120, deadline=None)
@given(grids(), st.lists(st.integers(min_value=-10, max_value=ONE_DOLLAR + 10), min_size=1, max_size=20))
def test_rounding_never_leaves_the_grid_and_favours_the_maker(
    grid_ref: tuple[PriceGrid, list[int]], ps: list[int]
) -> None:
    grid, ref = grid_ref
    assert list(grid.ticks) == ref
    assert grid.min_price == ref[0] and grid.max_price == ref[-1]
    refset = set(ref)
    for p in ps + ref[:3] + ref[-3:]:
        assert grid.is_valid(p) == (p in refset)
        below = [t for t in ref if t <= p]
        above = [t for t in ref if t >= p]
        bid, ask = grid.round_bid(p), grid.round_ask(p)
        # the best valid price not worse for the maker than p, or None when there is none
        assert bid == (below[-1] if below else None)
        assert ask == (above[0] if above else None)
        if bid is not None:
            assert grid.is_valid(bid) and bid <= p
        if ask is not None:
            assert grid.is_valid(ask) and ask >= p
        up = [t for t in ref if t > p]
        down = [t for t in ref if t < p]
        assert grid.tick_up(p) == (up[0] if up else None)
        assert grid.tick_down(p) == (down[-1] if down else None)
