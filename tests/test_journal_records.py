"""Journal record models: converters from core types, round trips, the checked-in JSON Schema, docs examples."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kalshibot.core.events import (
    AmendAck,
    AmendOrder,
    BookDelta,
    BookSnapshot,
    CancelAck,
    CancelOrder,
    DecreaseAck,
    DecreaseOrder,
    FillEvent,
    IntentNote,
    LifecycleNote,
    OrderAck,
    OrderReject,
    PlaceOrder,
    RiskNote,
    SettlementNote,
    TopOfBook,
    TradePrint,
)
from kalshibot.core.fixed import (
    ONE_DOLLAR,
    Count,
    Money,
    Price,
    contracts,
    dollars,
    parse_count,
    parse_money,
    parse_price,
)
from kalshibot.errors import JournalError
from kalshibot.journal import records as r
from kalshibot.journal.schema import SCHEMA_PATH, build_schema, load_schema, schema_text

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "journal.md"
S = "sess-1"
T = "KXHIGHNY-26JAN15-B41.5"


def sample_records() -> list[r.AnyRecord]:
    """One record of every type (both book kinds), built through the converters from core types."""
    top = TopOfBook(dollars("0.43"), contracts(125), dollars("0.47"), None, 1841)
    return [
        r.make_record(
            "session", 1, S, phase="start", version="0.1.0", config_hash="abc", environment="sim", universe=[T]
        ),
        r.intent_record(IntentNote("i-1", 2, T, "no", dollars("0.53"), contracts(10), top, {"fair": "0.45"}), S),
        r.order_sent_record(
            PlaceOrder("c-1", T, "ask", dollars("0.47"), contracts(10), "i-1", 1841, expiration_ts_s=1768525200), S, 3
        ),
        r.ack_record(OrderAck("c-1", "o-1", Count(0), contracts(10), 1768485600123), S, 4),
        r.reject_record(OrderReject("c-2", None, "post_only_cross", "would cross"), S, 5),
        r.amend_record(
            AmendOrder("o-1", "c-1", "c-3", T, "ask", dollars("0.48"), contracts(10), None, "i-2", 1842), S, 6
        ),
        r.amend_record(AmendAck("o-1", "c-3", dollars("0.48"), contracts(8), contracts(2)), S, 7),
        r.decrease_record(DecreaseOrder("o-1", "c-3", T, contracts(3), "i-3"), S, 8),
        r.decrease_record(DecreaseAck("o-1", "c-3", contracts(5)), S, 9),
        r.cancel_record(CancelOrder(None, "c-3", T, "requote"), S, 10),
        r.cancel_record(CancelAck("o-1", "c-3", contracts(5)), S, 11),
        r.fill_record(
            FillEvent("o-1", "t-1", T, "no", "ask", dollars("0.48"), Count(250), Money(13_000), False, "c-3"),
            S,
            Count(-250),
            ts_ms=12,
        ),
        r.risk_record(RiskNote("HALTED", "daily_loss", Money(-100_500_000), Money(-100_000_000), "account"), S, 13),
        r.lifecycle_record(
            LifecycleNote(T, "determined", {"result": "yes", "settlement_value": ONE_DOLLAR, "x": (1, 2)}), S, 14
        ),
        r.settlement_record(SettlementNote(T, "yes", Count(-250), Money(0), Money(13_000)), S, 15),
        r.book_record(BookSnapshot(T, 2, 2, ((dollars("0.42"), Count(1300)),), ((dollars("0.53"), Count(4000)),)), S),
        r.book_record(BookDelta(T, 2, 3, "yes", dollars("0.42"), Count(-50), ts_ms=16), S),
        r.trade_record(TradePrint(T, "t-9", dollars("0.45"), contracts(6), "no", 17), S),
    ]


def test_samples_cover_every_type() -> None:
    recs = sample_records()
    assert {x.type for x in recs} == r.RECORD_TYPES
    assert {type(x) for x in recs} == set(r.MODELS)


@pytest.mark.parametrize("rec", sample_records(), ids=lambda x: f"{x.type}-{type(x).__name__}")
def test_round_trip_line(rec: r.AnyRecord) -> None:
    line = r.dump_record(rec)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    obj = orjson.loads(line)
    assert list(obj)[:4] == ["v", "type", "ts_ms", "session"]
    assert r.parse_record(line) == rec
    assert r.validate_obj(obj) == rec
    # no floats anywhere in a line
    assert not re.search(rb":-?[0-9]+\.[0-9]", line)
    jsonschema.Draft202012Validator(load_schema()).validate(obj)


def test_converter_values() -> None:
    recs = {(x.type, getattr(x, "stage", getattr(x, "kind", ""))): x for x in sample_records()}
    intent = recs[("intent", "")]
    assert isinstance(intent, r.IntentRecord)
    assert (intent.side, intent.price, intent.count) == ("no", "0.5300", "10.00")
    assert (intent.yes_bid, intent.yes_bid_size, intent.yes_ask, intent.yes_ask_size) == (
        "0.4300",
        "125.00",
        "0.4700",
        None,
    )
    fill = recs[("fill", "")]
    assert isinstance(fill, r.FillRecord)
    # a NO buy at YES 0.48 is a NO price of 0.52
    assert (fill.side, fill.price, fill.count, fill.fee, fill.position_after) == (
        "no",
        "0.5200",
        "2.50",
        "0.0130",
        "-2.50",
    )
    assert fill.exchange_ts_ms is None and fill.ts_ms == 12
    risk = recs[("risk", "")]
    assert isinstance(risk, r.RiskRecord)
    assert (risk.value, risk.threshold, risk.unit) == ("-100.5000", "-100.0000", "dollars")
    life = recs[("lifecycle", "")]
    assert isinstance(life, r.LifecycleRecord)
    assert (life.result, life.settlement_value, life.detail) == ("yes", "1.0000", {"x": [1, 2]})
    amend_ack = recs[("amend", "acked")]
    assert isinstance(amend_ack, r.AmendRecord)
    assert (amend_ack.count, amend_ack.remaining_count, amend_ack.fill_count) == ("10.00", "8.00", "2.00")
    order = recs[("order_sent", "")]
    assert isinstance(order, r.OrderSentRecord)
    assert (order.side, order.price, order.tif, order.post_only, order.expiration_time) == (
        "ask",
        "0.4700",
        "good_till_canceled",
        True,
        1768525200,
    )


def test_risk_unit_from_limit_name() -> None:
    rec = r.risk_record(RiskNote("REDUCING", "max_position", contracts(90), contracts(100), "market", T), S, 1)
    assert (rec.value, rec.threshold, rec.unit) == ("90.00", "100.00", "contracts")
    rec = r.risk_record(RiskNote("ACTIVE", "resume", None, None, "account"), S, 1)
    assert (rec.value, rec.unit) == (None, None)


def test_book_records_normalise_no_prices() -> None:
    a = r.book_record(BookSnapshot(T, 1, 1, (), ((dollars("0.55"), Count(100)),)), S, 1)
    b = r.book_record(BookSnapshot(T, 1, 1, (), ((dollars("0.45"), Count(100)),), no_in_yes_prices=True), S, 1)
    assert a == b and isinstance(a, r.BookSnapshotRecord) and a.no == [("0.5500", "1.00")]
    d1 = r.book_record(BookDelta(T, 1, 2, "no", dollars("0.55"), Count(-100)), S, 1)
    d2 = r.book_record(BookDelta(T, 1, 2, "no", dollars("0.45"), Count(-100), no_in_yes_prices=True), S, 1)
    assert d1 == d2 and isinstance(d1, r.BookDeltaRecord) and (d1.price, d1.delta) == ("0.5500", "-1.00")


def test_make_record_formats_core_ints_but_parse_refuses_them() -> None:
    rec = r.make_record("trade", 1, S, ticker=T, trade_id="t", yes_price=455_550, count=contracts(3), taker_side="yes")
    assert isinstance(rec, r.TradeRecord) and (rec.yes_price, rec.count) == ("0.455550", "3.00")
    line = orjson.loads(r.dump_record(rec))
    line["count"] = 300
    with pytest.raises(JournalError, match="count"):
        r.validate_obj(line)


BAD_EDITS: list[tuple[str, Any]] = [
    ("price", 0.45),  # a float
    ("price", "0.45"),  # 2 decimals: not the journal's format
    ("price", "1.5000"),  # above 1
    ("count", "10"),
    ("count", "-1.00"),  # unsigned field
    ("fee", "0.01"),
    ("position_after", 5),
    ("is_taker", "false"),
    ("ts_ms", "12"),
    ("ts_ms", -1),
    ("v", 2),
    ("side", "bid"),
    ("surprise", 1),  # unknown field
]


@pytest.mark.parametrize(("field", "value"), BAD_EDITS)
def test_invalid_values_refused_by_models_and_schema(field: str, value: Any) -> None:
    fill = next(x for x in sample_records() if x.type == "fill")
    obj = orjson.loads(r.dump_record(fill))
    obj[field] = value
    with pytest.raises(JournalError):
        r.parse_record(orjson.dumps(obj))
    assert not jsonschema.Draft202012Validator(load_schema()).is_valid(obj)


def test_missing_envelope_field_refused() -> None:
    obj = orjson.loads(r.dump_record(sample_records()[0]))
    for key in ("v", "type", "ts_ms", "session"):
        broken = {k: v for k, v in obj.items() if k != key}
        with pytest.raises(JournalError):
            r.validate_obj(broken)
        assert not jsonschema.Draft202012Validator(load_schema()).is_valid(broken)


def test_intent_top_fields_always_present() -> None:
    obj = orjson.loads(r.dump_record(sample_records()[1]))
    assert obj["yes_ask_size"] is None
    del obj["yes_ask_size"]
    with pytest.raises(JournalError, match="yes_ask_size"):
        r.validate_obj(obj)


def test_make_record_errors() -> None:
    with pytest.raises(JournalError, match="unknown"):
        r.make_record("nope", 1, S)
    with pytest.raises(JournalError, match="invalid ack record"):
        r.make_record("ack", 1, S, client_order_id="c")


def test_checked_in_schema_is_current() -> None:
    assert SCHEMA_PATH.read_text(encoding="utf-8") == schema_text(), (
        "src/kalshibot/data/journal.schema.json is stale: regenerate with `python -m kalshibot.journal.schema`"
    )
    assert load_schema() == build_schema()
    jsonschema.Draft202012Validator.check_schema(load_schema())


def _doc_examples() -> list[str]:
    text = DOCS.read_text(encoding="utf-8")
    blocks = re.findall(r"```json\n(.*?)```", text, flags=re.S)
    return [line for block in blocks for line in block.splitlines() if line.strip()]


def test_docs_examples_validate_against_checked_in_schema() -> None:
    examples = _doc_examples()
    validator = jsonschema.Draft202012Validator(load_schema())
    kinds = set()
    for line in examples:
        obj = orjson.loads(line)
        validator.validate(obj)
        rec = r.parse_record(line)
        assert r.dump_record(rec).decode().rstrip("\n") == line  # the docs show lines exactly as written
        kinds.add((obj["type"], obj.get("kind")))
    # every record type (and both book kinds) has an example
    assert {t for t, _ in kinds} == r.RECORD_TYPES
    assert {("book", "snapshot"), ("book", "delta")} <= kinds


@settings(max_examples=60, deadline=None)
@given(
    yes_price=st.integers(1, ONE_DOLLAR - 1),
    count=st.integers(1, 10**8),
    fee=st.integers(0, 10**9),
    pos=st.integers(-(10**8), 10**8),
    outcome=st.sampled_from(["yes", "no"]),
)
def test_fill_values_round_trip_exactly(yes_price: int, count: int, fee: int, pos: int, outcome: str) -> None:
    ev = FillEvent("o", "t", T, outcome, "bid", Price(yes_price), Count(count), Money(fee), True)  # type: ignore[arg-type]
    rec = r.parse_record(r.dump_record(r.fill_record(ev, S, Count(pos), ts_ms=1)))
    assert isinstance(rec, r.FillRecord)
    bought = yes_price if outcome == "yes" else ONE_DOLLAR - yes_price
    assert parse_price(rec.price) == bought
    assert parse_count(rec.count) == count
    assert parse_money(rec.fee) == fee
    assert parse_count(rec.position_after, signed=True) == pos


def test_config_fsync_choices_are_exactly_the_journal_record_types() -> None:
    """settings/ keeps its own literal (check-config must not import the journal): it must not drift."""
    from typing import get_args

    from kalshibot.journal.models import JOURNAL_TYPES
    from kalshibot.settings.models import JournalRecordType

    assert set(get_args(JournalRecordType)) == JOURNAL_TYPES
