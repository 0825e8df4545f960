"""The outbox without a broker: packs per input partition, acks only after the send."""

from __future__ import annotations

import asyncio

import orjson

from engine.outbox import Outbox, unpack


class Recorder:
    def __init__(self) -> None:
        self.log: list[tuple[str, object]] = []

    async def send(self, topic: str, key: bytes | None, value: bytes | None) -> None:
        self.log.append(("send", (topic, key, unpack(value or b""))))

    def ack(self, name: str):  # type: ignore[no-untyped-def]
        async def done() -> None:
            self.log.append(("ack", name))

        return done


def fact(n: int) -> bytes:
    return orjson.dumps({"n": n})


def test_one_message_per_input_partition_in_the_order_made() -> None:
    rec = Recorder()
    box = Outbox("saas.facts", rec.send)
    for n, partition in enumerate([0, 1, 0, 0, 1]):
        box.add("saas.subscriptions", partition, fact(n))
    assert box.pending == 5
    assert asyncio.run(box.flush()) == 2
    assert rec.log == [
        ("send", ("saas.facts", b"saas.subscriptions:0", [{"n": 0}, {"n": 2}, {"n": 3}])),
        ("send", ("saas.facts", b"saas.subscriptions:1", [{"n": 1}, {"n": 4}])),
    ]
    assert (box.pending, box.messages_sent, box.facts_sent) == (0, 2, 5)


def test_a_pack_larger_than_max_bytes_is_cut_in_order_and_acked_after_the_last() -> None:
    """A partition batch can make more facts than one Kafka message carries."""
    rec = Recorder()
    box = Outbox("saas.facts", rec.send, max_bytes=30)  # {"n":N} is 7-8 bytes + a comma

    async def run() -> None:
        for n in range(10):
            box.add("saas.usage", 0, fact(n))
        await box.settle(rec.ack("batch"))
        await box.flush()

    asyncio.run(run())
    sends = [value for kind, value in rec.log if kind == "send"]
    assert len(sends) > 1
    assert all(key == b"saas.usage:0" for _topic, key, _facts in sends)  # type: ignore[misc]
    assert [f["n"] for _t, _k, facts in sends for f in facts] == list(range(10))  # type: ignore[misc]
    assert all(len(orjson.dumps(facts)) <= 30 for _t, _k, facts in sends)  # type: ignore[misc]
    assert rec.log[-1] == ("ack", "batch")
    assert box.messages_sent == len(sends)


def test_inputs_are_acknowledged_only_after_their_facts_are_sent() -> None:
    rec = Recorder()
    box = Outbox("saas.facts", rec.send)

    async def run() -> None:
        box.add("saas.payments", 3, fact(1))
        await box.settle(rec.ack("m1"))
        assert rec.log == []  # nothing sent, nothing acknowledged yet
        await box.flush()

    asyncio.run(run())
    assert [kind for kind, _ in rec.log] == ["send", "ack"]


def test_a_full_outbox_sends_when_an_input_settles() -> None:
    rec = Recorder()
    box = Outbox("saas.facts", rec.send, max_bytes=100)

    async def run() -> None:
        for n in range(20):
            box.add("saas.payments", 0, fact(n))
            await box.settle(rec.ack(f"m{n}"))

    asyncio.run(run())
    sends = [body for kind, body in rec.log if kind == "send"]
    acks = [name for kind, name in rec.log if kind == "ack"]
    assert sends and box.pending < 20
    assert acks == [f"m{n}" for n in range(len(acks))]  # in order, none before its send
    sent_facts = [f["n"] for _t, _k, facts in sends for f in facts]  # type: ignore[misc]
    assert sent_facts == list(range(len(sent_facts))) and len(sent_facts) >= len(acks)


def test_an_empty_flush_sends_nothing_and_acks_settled_inputs() -> None:
    rec = Recorder()
    box = Outbox("saas.facts", rec.send)

    async def run() -> None:
        await box.settle(rec.ack("no-facts"))  # e.g. a replay: nothing new to say
        await box.flush()

    asyncio.run(run())
    assert rec.log == [("ack", "no-facts")]


def test_revocation_sends_the_facts_but_acknowledges_nothing() -> None:
    rec = Recorder()
    box = Outbox("saas.facts", rec.send)

    async def run() -> None:
        box.add("saas.payments", 0, fact(1))
        await box.settle(rec.ack("m1"))
        await box.revoke()

    asyncio.run(run())
    assert [kind for kind, _ in rec.log] == ["send"]


def test_unpack_reads_packed_and_single_facts() -> None:
    assert unpack(b'[{"a":1},{"b":2}]') == [{"a": 1}, {"b": 2}]
    assert unpack(b'{"_usage":[]}') == [{"_usage": []}]
