"""The start route's template cache (TEMPLATE_CACHE_SECONDS, foundry/template_cache.py): starts of
one template within the TTL read it once; a template that is missing or refused is read again on
every start, with the same answer as without the cache. Template GETs are counted at the emulator
over loopback."""

from __future__ import annotations

import copy

from devhost.stack import LocalStack
from tests.e2e.helpers import start, structured, wait_finished

TEMPLATE = "train-sweep-template"


def _template_gets(stack: LocalStack, name: str) -> int:
    return sum(n for (kind, _st), n in stack.emulator.calls_for(name).items() if kind == "get")


def test_starts_of_one_template_within_the_ttl_read_it_once():
    with LocalStack.start(virtual=True, events=True) as stack:
        first = start(stack, structured(TEMPLATE, runId="cached-1"))
        second = start(stack, structured(TEMPLATE, runId="cached-2"))
        assert _template_gets(stack, TEMPLATE) == 1
        for instance_id in (first, second):  # the second run submits from the cached definition
            assert wait_finished(stack, instance_id, timeout=120)["status"] == "Success"
        sent = [
            stack.emulator.submitted(wait_finished(stack, i)["jobName"])["properties"]
            for i in (first, second)
        ]
        assert sent[0]["trial"] == sent[1]["trial"] and sent[0]["objective"] == sent[1]["objective"]


def test_with_the_cache_off_every_start_reads_its_template():
    with LocalStack.start(virtual=True, events=True, settings={"TEMPLATE_CACHE_SECONDS": "0"}) as stack:
        start(stack, structured(TEMPLATE, runId="uncached-1"))
        start(stack, structured(TEMPLATE, runId="uncached-2"))
        assert _template_gets(stack, TEMPLATE) == 2


def test_missing_and_refused_templates_are_read_again_on_every_start():
    """A 404 is not remembered: a template created right after is found. A template refused as no
    Sweep template gets the same 400 on each start, each from a fresh read."""
    with LocalStack.start(virtual=True, events=True) as stack:
        late = "late-sweep-template"
        for _ in range(2):
            answer = stack.post("sweeps", structured(late))
            assert answer.status_code == 404 and answer.json()["error"]["code"] == "TemplateNotFound"
        assert _template_gets(stack, late) == 2
        job = copy.deepcopy(stack.emulator.job(TEMPLATE))
        job["name"] = late
        job["id"] = job["id"].rsplit("/", 1)[0] + "/" + late
        stack.emulator.add_job(job)
        assert stack.post("sweeps", structured(late)).status_code == 202
        assert _template_gets(stack, late) == 3

        refused = "prep-data-command"
        answers = [stack.post("sweeps", structured(refused)) for _ in range(2)]
        assert [a.status_code for a in answers] == [400, 400]
        assert answers[0].json() == answers[1].json()
        assert _template_gets(stack, refused) == 2
