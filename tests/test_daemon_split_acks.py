"""``split_for_acks`` (issue 9, figure 6): the pump's round cut into one executor submission per batch-create
request. Whatever the round holds, the requests on the wire must be the ones one submission would have made:
every action exactly once, non-creates first, creates in the engine's order chunked as ``batch_create`` chunks
them, and a create whose cancel is in the same round kept with that cancel (the executor drops the pair)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from kalshibot.core import events as ev
from kalshibot.core.fixed import contracts, dollars
from kalshibot.daemon_support import split_for_acks


def _place(i: int, ticker: str) -> ev.PlaceOrder:
    return ev.PlaceOrder(f"kb-{i}", ticker, "bid" if i % 2 else "ask", dollars("0.40"), contracts(1), f"i{i}", 1)


@st.composite
def rounds(draw: st.DrawFn) -> list[ev.Action]:
    n = draw(st.integers(0, 45))
    places = [_place(i, draw(st.sampled_from(["A", "B", "C"]))) for i in range(n)]
    others: list[ev.Action] = []
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(["cancel_pending", "cancel_resting", "resync"]))
        if kind == "cancel_pending" and places:
            p = draw(st.sampled_from(places))
            others.append(ev.CancelOrder(None, p.client_order_id, p.ticker, "requote"))
        elif kind == "cancel_resting":
            others.append(ev.CancelOrder("oid-x", "kb-old", "A", "requote"))
        else:
            others.append(ev.ResyncBook("B"))
    actions: list[ev.Action] = [*places, *others]
    return draw(st.permutations(actions))


@settings(max_examples=200, deadline=None)
@given(rounds(), st.integers(1, 20))
def test_split_keeps_the_wire_of_one_submission(actions: list[ev.Action], step: int) -> None:
    parts = split_for_acks(actions, step)
    flat = [a for part in parts for a in part]
    assert sorted(map(id, flat)) == sorted(map(id, actions))  # every action exactly once
    assert all(parts) or not actions
    non_places = [a for a in actions if not isinstance(a, ev.PlaceOrder)]
    assert [a for a in parts[0] if not isinstance(a, ev.PlaceOrder)] == non_places
    assert all(isinstance(a, ev.PlaceOrder) for part in parts[1:] for a in part)
    dropped = {a.client_order_id for a in actions if isinstance(a, ev.CancelOrder) and a.order_id is None}
    sent = [a for a in actions if isinstance(a, ev.PlaceOrder) and a.client_order_id not in dropped]
    chunks = [sent[i : i + step] for i in range(0, len(sent), step)] or [[]]
    got = [[a for a in part if isinstance(a, ev.PlaceOrder) and a.client_order_id not in dropped] for part in parts]
    if sum(isinstance(a, ev.PlaceOrder) for a in actions) <= step:
        assert parts == [list(actions)]  # nothing to split: the round as it was
    else:
        assert got == chunks  # batch_create's chunks, one submission each


def test_small_rounds_are_not_split_and_large_ones_are() -> None:
    few = [_place(i, "A") for i in range(9)]
    assert split_for_acks(few, 9) == [few]
    many = [_place(i, "A") for i in range(24)]
    assert [len(p) for p in split_for_acks(many, 9)] == [9, 9, 6]
    assert split_for_acks(many, 0) == [many]  # no REST client (paper): one submission
