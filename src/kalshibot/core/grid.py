"""Per-market price grids (API.md §4: ``price_level_structure`` + ``price_ranges``).

Theory of operation
-------------------
A market's valid prices are the union over its ``price_ranges`` of ``start, start+step, ..., end``, strictly
between $0 and $1 (a contract at 0 or 1 is not a price anyone can trade). "Use this to determine valid order prices
rather than hardcoding a tick size" (API.md §4), so nothing here assumes a cent tick. Grids are small (at most
10,000 ticks for a centi-cent grid), so the ticks are precomputed once into a sorted tuple plus a set: validity is
O(1), next tick up/down and rounding are one ``bisect``.

Rounding favours the maker: a bid rounds down, an ask rounds up (the guide's ``round(mid - SPREAD/2, 2)`` on floats
is the classic bug: it can round a bid up through fair value).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from kalshibot.core.fixed import ONE_DOLLAR, Price, parse_price
from kalshibot.errors import FixedPointError, GridError

# Documented structures (API.md §4) for when a market gives a structure name but no ranges.
KNOWN_STRUCTURES: dict[str, tuple[tuple[str, str, str], ...]] = {
    "linear_cent": (("0.0000", "1.0000", "0.0100"),),
    "tapered_deci_cent": (
        ("0.0000", "0.1000", "0.0010"),
        ("0.1000", "0.9000", "0.0100"),
        ("0.9000", "1.0000", "0.0010"),
    ),
    "deci_cent": (("0.0000", "1.0000", "0.0010"),),
}


@dataclass(frozen=True, slots=True)
class PriceRange:
    start: Price
    end: Price
    step: Price


@dataclass(frozen=True, slots=True)
class PriceGrid:
    """The valid prices of one market. Build with :meth:`from_ranges` / :meth:`from_wire` / :meth:`linear_cent`."""

    ranges: tuple[PriceRange, ...]
    structure: str = ""
    ticks: tuple[int, ...] = field(default=(), repr=False, compare=False)
    _tickset: frozenset[int] = field(default=frozenset(), repr=False, compare=False)

    @classmethod
    def from_ranges(cls, ranges: Iterable[PriceRange], structure: str = "") -> PriceGrid:
        rs = tuple(ranges)
        if not rs:
            raise GridError("price_ranges is empty")
        ticks: set[int] = set()
        for r in rs:
            if r.step <= 0:
                raise GridError(f"price range step must be positive: {r}")
            if not 0 <= r.start < r.end <= ONE_DOLLAR:
                raise GridError(f"price range must satisfy 0 <= start < end <= 1: {r}")
            if (r.end - r.start) // r.step > 1_000_000:
                raise GridError(f"price range has too many ticks: {r}")
            p: int = r.start
            while p <= r.end:
                if 0 < p < ONE_DOLLAR:
                    ticks.add(p)
                p += r.step
        if not ticks:
            raise GridError("price grid has no tradable price")
        ordered = tuple(sorted(ticks))
        return cls(ranges=rs, structure=structure, ticks=ordered, _tickset=frozenset(ordered))

    @classmethod
    def from_wire(cls, price_ranges: object, structure: str = "") -> PriceGrid:
        """From Kalshi's ``price_ranges`` list of ``{start, end, step}`` dollar strings (or a known structure name
        when ranges are missing)."""
        if not price_ranges:
            known = KNOWN_STRUCTURES.get(structure)
            if known is None:
                raise GridError(f"no price_ranges and unknown price_level_structure {structure!r}")
            price_ranges = [{"start": s, "end": e, "step": st} for s, e, st in known]
        if not isinstance(price_ranges, list):
            raise GridError("price_ranges must be a list")
        out: list[PriceRange] = []
        for item in price_ranges:
            if not isinstance(item, Mapping):
                raise GridError(f"price range must be an object: {item!r}")
            try:
                out.append(PriceRange(parse_price(item["start"]), parse_price(item["end"]), parse_price(item["step"])))
            except (KeyError, FixedPointError) as e:
                raise GridError(f"malformed price range {item!r}: {e}") from e
        return cls.from_ranges(out, structure)

    @classmethod
    def linear_cent(cls) -> PriceGrid:
        return _LINEAR_CENT

    def to_wire(self) -> list[dict[str, str]]:
        from kalshibot.core.fixed import format_price

        return [
            {"start": format_price(r.start), "end": format_price(r.end), "step": format_price(r.step)}
            for r in self.ranges
        ]

    # --- queries -------------------------------------------------------------------------------------------
    @property
    def min_price(self) -> Price:
        return Price(self.ticks[0])

    @property
    def max_price(self) -> Price:
        return Price(self.ticks[-1])

    def is_valid(self, p: int) -> bool:
        return p in self._tickset

    def tick_up(self, p: int) -> Price | None:
        """The next valid price strictly above ``p`` (None at the top)."""
        i = bisect_right(self.ticks, p)
        return Price(self.ticks[i]) if i < len(self.ticks) else None

    def tick_down(self, p: int) -> Price | None:
        """The next valid price strictly below ``p`` (None at the bottom)."""
        i = bisect_left(self.ticks, p)
        return Price(self.ticks[i - 1]) if i > 0 else None

    def round_bid(self, p: int) -> Price | None:
        """The highest valid price <= ``p`` (a bid rounds down, in the maker's favour); None below the grid."""
        if p in self._tickset:
            return Price(p)
        return self.tick_down(p)

    def round_ask(self, p: int) -> Price | None:
        """The lowest valid price >= ``p`` (an ask rounds up); None above the grid."""
        if p in self._tickset:
            return Price(p)
        return self.tick_up(p)

    def tick_size_at(self, p: int) -> Price:
        """The step of the range containing ``p`` (the smallest step when ranges overlap at a boundary)."""
        steps = [r.step for r in self.ranges if r.start <= p <= r.end]
        if not steps:
            raise GridError(f"price {p} is outside the grid")
        return Price(min(steps))


_LINEAR_CENT = PriceGrid.from_ranges([PriceRange(Price(0), ONE_DOLLAR, Price(10_000))], "linear_cent")
