"""A small DFApp used by the durable host tests (not part of the product)."""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import timedelta

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)

# Mutable knobs the tests poke at (the activities run in-process).
FLAKY = {"fail_times": 2, "calls": 0}
EVENTS: list[dict] = []
TIMER_STATUSES: list[dict] = []  # what each timer invocation was handed as schedule_status
SHIFT = {"first": "say_hello"}
GATE = threading.Event()


# -- activities -------------------------------------------------------------
@app.activity_trigger(input_name="who")
def say_hello(who: str) -> str:
    return f"Hello {who}!"


@app.activity_trigger(input_name="payload")
def flaky(payload: dict) -> dict:
    FLAKY["calls"] += 1
    if FLAKY["calls"] <= FLAKY["fail_times"]:
        raise RuntimeError(f"flaky failure #{FLAKY['calls']}")
    return {"attempts": FLAKY["calls"], "payload": payload}


# -- orchestrators ------------------------------------------------------------
@app.orchestration_trigger(context_name="context")
def hello_orchestrator(context: df.DurableOrchestrationContext):
    name = context.get_input() or "world"
    first = yield context.call_activity("say_hello", name)
    second = yield context.call_activity(say_hello, "again")
    return [first, second]


@app.orchestration_trigger(context_name="context")
def retry_orchestrator(context: df.DurableOrchestrationContext):
    opts = df.RetryOptions(first_retry_interval_in_milliseconds=5000, max_number_of_attempts=3)
    result = yield context.call_activity_with_retry("flaky", opts, {"x": 1})
    return result


@app.orchestration_trigger(context_name="context")
def retry_exhausted_orchestrator(context: df.DurableOrchestrationContext):
    opts = df.RetryOptions(first_retry_interval_in_milliseconds=1000, max_number_of_attempts=2)
    try:
        yield context.call_activity_with_retry("flaky", opts, {"x": 2})
    except Exception as exc:  # noqa: BLE001
        after = yield context.call_activity("say_hello", "after-retry")
        return {"failed": str(exc).splitlines()[0], "after": after}
    return "unexpected"


@app.orchestration_trigger(context_name="context")
def approval_orchestrator(context: df.DurableOrchestrationContext):
    """task_any(timer, event); the losing timer is cancelled."""
    hours = (context.get_input() or {}).get("hours", 48)
    deadline = context.current_utc_datetime + timedelta(hours=hours)
    timer = context.create_timer(deadline)
    approval = context.wait_for_external_event("approval")
    winner = yield context.task_any([timer, approval])
    if winner == approval:
        timer.cancel()
        return {
            "outcome": "approved",
            "data": approval.result,
            "at": context.current_utc_datetime.isoformat(),
        }
    return {"outcome": "timeout", "at": context.current_utc_datetime.isoformat()}


@app.orchestration_trigger(context_name="context")
def counter_orchestrator(context: df.DurableOrchestrationContext):
    """Waits 1 h, then continues as new until the counter reaches the limit."""
    state = context.get_input() or {}
    count = state.get("count", 0)
    limit = state.get("limit", 3)
    yield context.create_timer(context.current_utc_datetime + timedelta(hours=1))
    if count + 1 >= limit:
        return {"count": count + 1}
    context.continue_as_new({"count": count + 1, "limit": limit})
    return None


@app.orchestration_trigger(context_name="context")
def event_loop_orchestrator(context: df.DurableOrchestrationContext):
    """Consumes one 'tick' event per generation, then continues as new."""
    state = context.get_input() or {"seen": 0}
    data = yield context.wait_for_external_event("tick")
    if state.get("slow") and not context.is_replaying:
        time.sleep(0.2)  # test hook: keep the continue-as-new episode busy (never do this for real)
    seen = state["seen"] + 1
    if json.loads(data) == "stop":  # the Python client's events arrive JSON-encoded
        return {"seen": seen}
    context.continue_as_new({"seen": seen})
    return None


@app.orchestration_trigger(context_name="context")
def failing_orchestrator(context: df.DurableOrchestrationContext):
    yield context.call_activity("say_hello", "doomed")
    raise ValueError("boom: the orchestrator gave up")


@app.orchestration_trigger(context_name="context")
def status_orchestrator(context: df.DurableOrchestrationContext):
    context.set_custom_status({"stage": "waiting"})
    data = yield context.wait_for_external_event("go")
    context.set_custom_status({"stage": "done", "data": data})
    return data


@app.orchestration_trigger(context_name="context")
def fan_out_orchestrator(context: df.DurableOrchestrationContext):
    names = context.get_input() or ["a", "b", "c"]
    results = yield context.task_all([context.call_activity("say_hello", n) for n in names])
    return results


@app.orchestration_trigger(context_name="context")
def no_cancel_orchestrator(context: df.DurableOrchestrationContext):
    """Like approval_orchestrator but never cancels the losing timer."""
    timer = context.create_timer(context.current_utc_datetime + timedelta(hours=48))
    approval = context.wait_for_external_event("approval")
    winner = yield context.task_any([timer, approval])
    return "approved" if winner == approval else "timeout"


@app.orchestration_trigger(context_name="context")
def long_timer_orchestrator(context: df.DurableOrchestrationContext):
    """A 10-day timer: longer than maximumShortTimerDuration, so the SDK splits it."""
    yield context.create_timer(context.current_utc_datetime + timedelta(days=10))
    return context.current_utc_datetime.isoformat()


@app.orchestration_trigger(context_name="context")
def sub_orchestrator_caller(context: df.DurableOrchestrationContext):
    result = yield context.call_sub_orchestrator("hello_orchestrator", "child")
    return result


@app.orchestration_trigger(context_name="context")
def parallel_retry_orchestrator(context: df.DurableOrchestrationContext):
    """A with-retry task in a fan-out next to plain activities and a timer; then more work."""
    opts = df.RetryOptions(first_retry_interval_in_milliseconds=2000, max_number_of_attempts=4)
    results = yield context.task_all(
        [
            context.call_activity_with_retry("flaky", opts, {"p": 1}),
            context.call_activity("say_hello", "one"),
            context.create_timer(context.current_utc_datetime + timedelta(seconds=3)),
            context.call_activity("say_hello", "two"),
        ]
    )
    tail = yield context.call_activity("say_hello", "tail")
    return [results[0], results[1], results[3], tail]


@app.activity_trigger(input_name="payload")
def gated(payload: dict) -> str:
    """Blocks until the test opens GATE (an activity still running on the host)."""
    GATE.wait(timeout=30)
    return "done"


@app.activity_trigger(input_name="payload")
def explode(payload: dict) -> None:
    raise RuntimeError(f"boom {payload.get('n')}")


@app.orchestration_trigger(context_name="context")
def tick_then_continue_orchestrator(context: df.DurableOrchestrationContext):
    """Races a timer against 'tick', cancels the timer, continues as new; ends after 3 ticks."""
    state = context.get_input() or {"seen": []}
    timer = context.create_timer(context.current_utc_datetime + timedelta(hours=1))
    tick = context.wait_for_external_event("tick")
    winner = yield context.task_any([timer, tick])
    if winner is timer:
        return state
    timer.cancel()
    seen = [*state["seen"], tick.result]
    if len(seen) >= 3:
        return {"seen": seen}
    context.continue_as_new({"seen": seen})
    return None


@app.orchestration_trigger(context_name="context")
def two_waits_orchestrator(context: df.DurableOrchestrationContext):
    """A timer first (the 'go' event may arrive meanwhile), then two waits for 'go'."""
    yield context.create_timer(context.current_utc_datetime + timedelta(hours=1))
    first = yield context.wait_for_external_event("go")
    context.set_custom_status({"first": first})
    second = yield context.wait_for_external_event("go")
    context.set_custom_status({"first": first, "second": second})
    return [first, second]


@app.orchestration_trigger(context_name="context")
def cancelled_timer_orchestrator(context: df.DurableOrchestrationContext):
    """An event beats a 1-hour timer (cancelled), then the run waits for 'done'."""
    timer = context.create_timer(context.current_utc_datetime + timedelta(hours=1))
    first = context.wait_for_external_event("go")
    winner = yield context.task_any([timer, first])
    if winner is first:
        timer.cancel()
    yield context.wait_for_external_event("done")
    return "finished"


@app.orchestration_trigger(context_name="context")
def shifting_orchestrator(context: df.DurableOrchestrationContext):
    """Schedules what SHIFT says: a replay after SHIFT changed is non-deterministic."""
    first = SHIFT["first"]
    if first == "timer":
        yield context.create_timer(context.current_utc_datetime + timedelta(seconds=1))
    else:
        yield context.call_activity(first, "x")
    yield context.wait_for_external_event("go")
    return "done"


@app.orchestration_trigger(context_name="context")
def big_status_orchestrator(context: df.DurableOrchestrationContext):
    """Sets a customStatus of the given text, then waits for 'go'."""
    context.set_custom_status({"text": context.get_input()["text"]})
    yield context.wait_for_external_event("go")
    return "ok"


@app.orchestration_trigger(context_name="context")
def fail_while_activity_runs_orchestrator(context: df.DurableOrchestrationContext):
    """Races a still-running activity against 'go' and raises when 'go' wins."""
    work = context.call_activity("gated", {})
    go = context.wait_for_external_event("go")
    winner = yield context.task_any([work, go])
    if winner is go:
        raise ValueError("gave up while the activity was still running")
    return "activity first"


@app.orchestration_trigger(context_name="context")
def explode_orchestrator(context: df.DurableOrchestrationContext):
    try:
        yield context.call_activity("explode", {"n": 1})
    except Exception as exc:  # noqa: BLE001
        return str(exc)
    return "unexpected"


@app.orchestration_trigger(context_name="context")
def retry_race_orchestrator(context: df.DurableOrchestrationContext):
    """A with-retry activity raced against 'stop'; after 'stop', wait for it, then go on."""
    opts = df.RetryOptions(first_retry_interval_in_milliseconds=60_000, max_number_of_attempts=3)
    work = context.call_activity_with_retry("flaky", opts, {"r": 1})
    stop = context.wait_for_external_event("stop")
    winner = yield context.task_any([work, stop])
    if winner is stop and not work.is_completed:
        yield work
    return (yield context.call_activity("say_hello", "after"))


# -- client functions -----------------------------------------------------------
@app.route(route="orchestrators/{functionName}/{instanceId?}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def http_start(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    body = req.get_body()
    payload = json.loads(body) if body else None
    instance_id = await client.start_new(
        req.route_params["functionName"], req.route_params.get("instanceId"), payload
    )
    return client.create_check_status_response(req, instance_id)


@app.route(
    route="instances/{instanceId}/events/{eventName}", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS
)
@app.durable_client_input(client_name="client")
async def http_raise(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    body = req.get_body()
    data = json.loads(body) if body else None
    try:
        await client.raise_event(req.route_params["instanceId"], req.route_params["eventName"], data)
    except Exception as exc:  # noqa: BLE001
        return func.HttpResponse(str(exc), status_code=409)
    return func.HttpResponse(status_code=202)


@app.route(route="instances/{instanceId}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@app.durable_client_input(client_name="client")
async def http_status(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    status = await client.get_status(req.route_params["instanceId"])
    if not status:
        return func.HttpResponse("not found", status_code=404)
    return func.HttpResponse(json.dumps(status.to_json()), mimetype="application/json")


@app.route(route="instances/{instanceId}/terminate", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@app.durable_client_input(client_name="client")
async def http_terminate(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    await client.terminate(req.route_params["instanceId"], "stopped by test")
    return func.HttpResponse(status_code=202)


@app.route(route="echo/{id:int}/{tail?}", methods=["GET", "PUT"], auth_level=func.AuthLevel.ANONYMOUS)
def echo(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(
            {
                "method": req.method,
                "route": dict(req.route_params),
                "params": dict(req.params),
                "body": req.get_body().decode(),
                "url": req.url,
            }
        ),
        status_code=200,
        headers={"X-Echo": "1"},
        mimetype="application/json",
    )


@app.route(route="function-level", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def function_level(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("function", status_code=200)


@app.route(route="admin-only", methods=["GET"], auth_level=func.AuthLevel.ADMIN)
def admin_only(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("admin", status_code=200)


@app.route(route="sync-fail", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def sync_fail(req: func.HttpRequest) -> func.HttpResponse:
    raise RuntimeError("route exploded")


@app.event_grid_trigger(arg_name="event")
@app.durable_client_input(client_name="client")
async def grid_events(event: func.EventGridEvent, client: df.DurableOrchestrationClient) -> None:
    data = event.get_json()
    EVENTS.append({"id": event.id, "type": event.event_type, "subject": event.subject})
    await client.raise_event(data["instanceId"], "approval", {"via": "eventgrid", "type": event.event_type})


@app.event_grid_trigger(arg_name="event")
def grid_plain(event: func.EventGridEvent) -> None:
    EVENTS.append({"plain": event.id})


@app.timer_trigger(schedule="%SAMPLE_SCHEDULE%", arg_name="timer", run_on_startup=False)
@app.durable_client_input(client_name="client")
async def tick_timer(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
    EVENTS.append({"timer": timer.past_due})
    TIMER_STATUSES.append(dict(timer.schedule_status))
    logging.info("timer ticked")


# -- an activity with a durable client binding ---------------------------------------------
@app.activity_trigger(input_name="payload")
@app.durable_client_input(client_name="client")
async def raise_to(payload: dict, client: df.DurableOrchestrationClient) -> str:
    await client.raise_event(payload["instanceId"], payload["event"], payload.get("data"))
    status = await client.get_status(payload["instanceId"])
    return str(getattr(status.runtime_status, "value", status.runtime_status))


@app.orchestration_trigger(context_name="context")
def signaller_orchestrator(context: df.DurableOrchestrationContext):
    """Tells another instance something: the Python context cannot raise events to other
    instances, so an activity with a client binding does it."""
    target = context.get_input()
    return (yield context.call_activity("raise_to", {"instanceId": target, "event": "go", "data": {"n": 1}}))
