"""TemplateCache on its own clock: how long a definition is reused, that callers get copies, the
bound, and TTL 0 = off."""

from __future__ import annotations

from foundry.template_cache import TemplateCache


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_a_definition_is_reused_until_its_ttl_counted_from_the_read():
    clock = Clock()
    cache = TemplateCache(ttl=60, now=clock)
    read_at = clock()
    clock.t += 5  # the GET took 5 s: the age counts from before it
    cache.remember("t", {"properties": {"jobType": "Sweep"}}, read_at)
    clock.t = read_at + 59.9
    assert cache.recall("t") == {"properties": {"jobType": "Sweep"}}
    clock.t = read_at + 60
    assert cache.recall("t") is None
    assert cache.recall("t") is None  # dropped, not resurrected


def test_callers_get_copies():
    cache = TemplateCache(ttl=60, now=Clock())
    definition = {"properties": {"tags": {"a": "1"}}}
    cache.remember("t", definition, cache.now())
    definition["properties"]["tags"]["a"] = "changed by the caller"
    got = cache.recall("t")
    assert got == {"properties": {"tags": {"a": "1"}}}
    got["properties"]["tags"]["a"] = "changed again"
    assert cache.recall("t") == {"properties": {"tags": {"a": "1"}}}


def test_zero_ttl_is_off():
    cache = TemplateCache(ttl=0, now=Clock())
    cache.remember("t", {"x": 1}, cache.now())
    assert cache.recall("t") is None


def test_bounded_oldest_read_goes_first():
    cache = TemplateCache(ttl=60, now=Clock(), max_entries=2)
    for name in ("a", "b", "c"):
        cache.remember(name, {"n": name}, cache.now())
    assert cache.recall("a") is None
    assert cache.recall("b") == {"n": "b"} and cache.recall("c") == {"n": "c"}
