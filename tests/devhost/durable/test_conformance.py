"""devhost against the real Durable Functions host: each test names the source it follows.

Sources are the public repositories Azure/azure-functions-durable-extension
(src/WebJobs.Extensions.DurableTask/..., "extension" below), Azure/durabletask
(src/DurableTask.Core/..., src/DurableTask.AzureStorage/..., "DTFx") and the
installed azure-functions-durable SDK ("SDK").
"""

from __future__ import annotations

import json
import time

import requests

from devhost.durable import EventType
from devhost.durable.dtfx import NON_DETERMINISTIC
from tests.devhost.durable import sample_app


def _types(history):
    return [EventType(ev["EventType"]).name for ev in history]


def _wait_for(pred, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.005)
    raise AssertionError("condition not reached")


# -- 1. event payloads ----------------------------------------------------------------------
def test_python_client_events_reach_the_orchestrator_as_json_strings(auto_host):
    """SDK DurableOrchestrationClient.raise_event posts `json=json.dumps(data)`;
    extension HttpApiHandler.HandleRaiseEventRequestAsync turns the body into a JToken
    with MessagePayloadDataConverter.ConvertToJToken (a string token) and
    MessagePayloadDataConverter.Serialize stores it as is; the SDK's
    TaskOrchestrationExecutor.set_task_value df_loads it back: a str, not a dict."""
    iid = auto_host.start_orchestration("status_orchestrator")
    r = requests.post(f"{auto_host.api_url}/instances/{iid}/events/go", json={"reason": "x"}, timeout=5)
    assert r.status_code == 202
    output = auto_host.wait_for_completion(iid, 5)["output"]
    assert output == '{"reason": "x"}' and json.loads(output) == {"reason": "x"}
    raised = next(e for e in auto_host.history(iid) if e["EventType"] == EventType.EventRaised)
    assert raised["Input"] == json.dumps('{"reason": "x"}')  # stored as a JSON string


def test_send_event_post_uri_with_a_json_object_delivers_a_dict(manual_host):
    """HttpApiHandler.HandleRaiseEventRequestAsync: a webhook caller's JSON object is
    a JObject token, delivered as an object."""
    r = requests.post(f"{manual_host.api_url}/orchestrators/status_orchestrator/ev-obj", timeout=5)
    send = r.json()["sendEventPostUri"].replace("{eventName}", "go")
    assert requests.post(send, json={"reason": "y"}, timeout=5).status_code == 202
    assert manual_host.wait_for_completion("ev-obj", 5)["output"] == {"reason": "y"}


def test_send_event_post_uri_requires_json_content_and_a_body(auto_host):
    """HttpApiHandler.HandleRaiseEventRequestAsync: 404 unknown instance first; then
    a Content-Type other than application/json is 400 "Only application/json request
    content is supported"; an empty or malformed body fails ConvertToJToken: 400
    "Invalid JSON content"; nothing is raised in those cases."""
    r = requests.post(f"{auto_host.api_url}/orchestrators/status_orchestrator/ev-bad", timeout=5)
    send = r.json()["sendEventPostUri"].replace("{eventName}", "go")
    missing = send.replace("/ev-bad/", "/nobody/")
    assert (
        requests.post(missing, data="x", headers={"Content-Type": "text/plain"}, timeout=5).status_code == 404
    )
    plain = requests.post(send, data='{"a": 1}', headers={"Content-Type": "text/plain"}, timeout=5)
    assert plain.status_code == 400 and "Only application/json" in plain.text
    for body in (b"", b"{not json"):
        bad = requests.post(send, data=body, headers={"Content-Type": "application/json"}, timeout=5)
        assert bad.status_code == 400 and "Invalid JSON content" in bad.text
    assert auto_host.get_status("ev-bad")["runtimeStatus"] == "Running"
    assert not [e for e in auto_host.history("ev-bad") if e["EventType"] == EventType.EventRaised]


# -- 2. continue-as-new carries events over ----------------------------------------------------
def test_events_after_the_continue_as_new_in_its_batch_go_to_the_next_generation(auto_host):
    """DTFx TaskOrchestrationContext.HandleEventRaisedEvent: once ContinueAsNew was
    called, an EventRaised is AddEventToNextIteration'd (BehaviorOnContinueAsNew.Carryover,
    the default of AzureStorageOrchestrationServiceSettings.EventBehaviourForContinueAsNew);
    TaskOrchestrationDispatcher puts the carried events into the new execution's
    first work item, after ExecutionStarted."""
    engine = auto_host.engine
    iid = auto_host.start_orchestration("event_loop_orchestrator")
    _wait_for(lambda: auto_host.metrics.instances[iid].episodes >= 1)
    with engine._lock:  # both events land in one batch: the second comes after the continue-as-new
        auto_host.raise_event(iid, "tick", "a")
        auto_host.raise_event(iid, "tick", "b")
    _wait_for(lambda: auto_host.metrics.instances[iid].generations == 3)
    second = auto_host.history(iid, previous_generation=True)
    assert _types(second)[:3] == ["OrchestratorStarted", "ExecutionStarted", "EventRaised"]
    assert second[2]["Input"] == json.dumps(json.dumps("b"))
    auto_host.raise_event(iid, "tick", "stop")
    assert auto_host.wait_for_completion(iid, 5)["output"] == {"seen": 3}
    assert auto_host.metrics.instances[iid].events_carried_over == 1


def test_an_event_raised_during_the_continue_as_new_episode_reaches_the_new_generation(auto_host):
    """extension DurableClient.RaiseEventInternalAsync clears the ExecutionId, and DTFx
    OrchestrationSessionManager.AddMessageToPendingOrchestration sends such a message to
    the instance's current execution: nothing is dropped by the transition."""
    iid = auto_host.start_orchestration("event_loop_orchestrator", {"seen": 0, "slow": True})
    _wait_for(lambda: auto_host.metrics.instances[iid].episodes >= 1)
    auto_host.raise_event(iid, "tick", "a")
    _wait_for(lambda: auto_host.engine._instances[iid].running_episode)
    auto_host.raise_event(iid, "tick", "b")  # arrives while the episode that continues as new runs
    _wait_for(lambda: auto_host.metrics.instances[iid].generations == 3)
    auto_host.raise_event(iid, "tick", "stop")
    assert auto_host.wait_for_completion(iid, 5)["output"] == {"seen": 3}
    assert auto_host.metrics.instances[iid].events_carried_over == 0


def test_a_cancelled_timer_lets_the_replay_reach_continue_as_new_before_the_event_that_won(manual_host):
    """extension OutOfProcOrchestrationShim: a CreateTimer action with isCanceled has
    its token cancelled at once (InvokeAPIFromAction), so ProcessAsyncActionsV2's await
    of that WhenAny finishes before any event is replayed and ContinueAsNew is called
    first; DTFx then carries the very event that won into the next generation."""
    iid = manual_host.start_orchestration("tick_then_continue_orchestrator")
    manual_host.clock.wait_quiet()
    manual_host.raise_event(iid, "tick", "a")  # raised once ...
    status = manual_host.wait_for_completion(iid, 5)
    assert status["output"] == {"seen": ['"a"', '"a"', '"a"']}  # ... taken by three generations
    assert manual_host.metrics.instances[iid].events_carried_over == 2


# -- 3. early events and cancelled timers -------------------------------------------------------
def test_an_early_event_is_handed_to_every_later_waiter_of_its_name(manual_host):
    """SDK DurableOrchestrationContext._add_to_open_tasks applies `deferred_tasks[name]`
    to each new waiter and never removes it (azure-functions-durable-python#507): an
    event raised before anyone waits completes the first *and* the second wait. The
    extension's own buffer (DurableOrchestrationContext.WaitForExternalEvent) hands it
    out once, so its replay still waits on the second WaitForExternalEvent and the
    orchestration never completes."""
    iid = manual_host.start_orchestration("two_waits_orchestrator")
    manual_host.clock.wait_quiet()
    manual_host.raise_event(iid, "go", "early")  # delivered into history while only the timer is open
    manual_host.clock.wait_quiet()
    manual_host.clock.advance(3600)
    manual_host.clock.wait_quiet()
    status = manual_host.get_status(iid)
    assert status["customStatus"] == {"first": '"early"', "second": '"early"'}
    assert status["runtimeStatus"] == "Running"
    assert [e["Name"] for e in manual_host.history(iid) if e["EventType"] == EventType.EventRaised] == ["go"]


def test_a_cancelled_timer_still_fires(manual_host):
    """DTFx TaskOrchestrationDispatcher.ProcessCreateTimerDecision sends the TimerFired
    message when the timer is created; cancelling it in the orchestrator only drops the
    task from openTasks (TaskOrchestrationContext.CreateTimer), and the message arrives
    at fireAt as a TimerFired event (TaskOrchestrationContext.HandleTimerFiredEvent
    logs it as a duplicate)."""
    iid = manual_host.start_orchestration("cancelled_timer_orchestrator")
    manual_host.clock.wait_quiet()
    manual_host.raise_event(iid, "go")
    manual_host.clock.wait_quiet()
    assert not [e for e in manual_host.history(iid) if e["EventType"] == EventType.TimerFired]
    episodes = manual_host.metrics.instances[iid].episodes
    manual_host.clock.advance(3600)
    manual_host.clock.wait_quiet()
    assert [e["TimerId"] for e in manual_host.history(iid) if e["EventType"] == EventType.TimerFired] == [0]
    assert manual_host.metrics.instances[iid].episodes == episodes + 1
    manual_host.raise_event(iid, "done")
    assert manual_host.wait_for_completion(iid, 5)["output"] == "finished"


# -- 4. non-determinism -----------------------------------------------------------------------
def test_a_replay_that_schedules_another_activity_fails_with_dtfx_message(manual_host):
    """DTFx TaskOrchestrationContext.HandleTaskScheduledEvent (name check) raises
    NonDeterministicOrchestrationException ("Non-Deterministic workflow detected: ...");
    TaskOrchestrationExecutor.ExecuteCore fails the orchestration with its message."""
    iid = manual_host.start_orchestration("shifting_orchestrator")
    _wait_for(lambda: manual_host.get_status(iid)["runtimeStatus"] == "Running")
    manual_host.clock.wait_quiet()
    sample_app.SHIFT["first"] = "flaky"
    manual_host.raise_event(iid, "go")
    status = manual_host.wait_for_completion(iid, 5)
    assert status["runtimeStatus"] == "Failed"
    assert status["output"] == (
        f"{NON_DETERMINISTIC}A previous execution of this orchestration scheduled an activity task with "
        "sequence number 0 named 'say_hello', but the current orchestration replay instead scheduled an "
        "activity task named 'flaky' with this sequence number.  Was a change made to the orchestrator "
        "code after this instance had already started running?"
    )


def test_a_replay_that_turns_an_activity_into_a_timer_fails(manual_host):
    """DTFx TaskOrchestrationContext.HandleTaskScheduledEvent: the action at that
    sequence number is a CreateTimerOrchestratorAction."""
    iid = manual_host.start_orchestration("shifting_orchestrator")
    _wait_for(lambda: manual_host.get_status(iid)["runtimeStatus"] == "Running")
    manual_host.clock.wait_quiet()
    sample_app.SHIFT["first"] = "timer"
    manual_host.raise_event(iid, "go")
    status = manual_host.wait_for_completion(iid, 5)
    assert status["runtimeStatus"] == "Failed"
    assert status["output"].startswith(NON_DETERMINISTIC)
    assert "produced a CreateTimerOrchestratorAction action" in status["output"]


def test_a_cancel_racing_a_durable_retry_timer_trips_non_determinism(manual_host):
    """Why the product's orchestrator has no durable retry policy. The SDK numbers the
    next activity after the retried one completes; the extension's replay
    (OutOfProcOrchestrationShim.ProcessAsyncActionsV2) moves on to it as soon as the
    `task_any` is decided by the event, before DTFx's RetryInterceptor schedules the
    next attempt, so their sequence numbers swap and
    TaskOrchestrationContext.HandleTaskScheduledEvent rejects the history."""
    sample_app.FLAKY["fail_times"] = 1
    iid = manual_host.start_orchestration("retry_race_orchestrator")
    _wait_for(lambda: sample_app.FLAKY["calls"] == 1)
    manual_host.clock.wait_quiet()  # the first attempt failed: its retry timer is pending
    manual_host.raise_event(iid, "stop")
    manual_host.clock.wait_quiet()
    manual_host.clock.advance(60)  # the retry timer fires, the second attempt succeeds
    status = manual_host.wait_for_completion(iid, 5)
    assert status["runtimeStatus"] == "Failed"
    assert status["output"].startswith(
        f"{NON_DETERMINISTIC}A previous execution of this orchestration scheduled an activity task with "
        "sequence number 2 named 'flaky', but the current orchestration replay instead scheduled an "
        "activity task named 'say_hello'"
    )


# -- 5. customStatus limit ------------------------------------------------------------------
def test_custom_status_over_16_kb_in_utf16_fails_the_orchestration(auto_host):
    """extension DurableOrchestrationContext.SetCustomStatus: MessagePayloadDataConverter
    .Serialize(status, 16) measures Encoding.Unicode (UTF-16) bytes / 1024, truncated,
    and throws "The UTF-16 size of the JSON-serialized payload must not exceed 16 KB...";
    OutOfProcOrchestrationShim calls it before replaying, so the function faults.
    8,800 ASCII characters are 8.6 KB of UTF-8 but 17 KB of UTF-16."""
    small = auto_host.start_orchestration("big_status_orchestrator", {"text": "x" * 8000})
    big = auto_host.start_orchestration("big_status_orchestrator", {"text": "x" * 8800})
    status = auto_host.wait_for_completion(big, 5)
    assert status["runtimeStatus"] == "Failed"
    assert status["output"] == (
        "Orchestrator function 'big_status_orchestrator' failed: The UTF-16 size of the JSON-serialized "
        "payload must not exceed 16 KB. The current payload size is 17 KB."
    )
    assert status["customStatus"] is None  # never set
    _wait_for(lambda: auto_host.get_status(small)["customStatus"] is not None)
    assert auto_host.get_status(small)["runtimeStatus"] == "Running"


# -- 6. open tasks and the retry interceptor ---------------------------------------------------
def test_an_orchestration_fails_only_once_no_task_is_open(auto_host):
    """DTFx TaskOrchestrationExecutor.ExecuteCore: FailOrchestration only
    `if (!this.context.HasOpenTasks)`; the activity still running keeps it Running."""
    iid = auto_host.start_orchestration("fail_while_activity_runs_orchestrator")
    _wait_for(lambda: auto_host.metrics.instances[iid].episodes >= 1)
    auto_host.raise_event(iid, "go")
    _wait_for(lambda: auto_host.metrics.instances[iid].episodes >= 2)
    time.sleep(0.05)
    assert auto_host.get_status(iid)["runtimeStatus"] == "Running"
    sample_app.GATE.set()
    status = auto_host.wait_for_completion(iid, 5)
    assert status["runtimeStatus"] == "Failed" and "gave up while the activity" in status["output"]


def test_the_retry_interceptors_last_timer_fires_at_once(auto_host):
    """DTFx RetryInterceptor.Invoke: after the last attempt, "a timer that fires
    immediately" (CurrentUtcDateTime) replaces the old extra full delay."""
    sample_app.FLAKY["fail_times"] = 10
    iid = auto_host.start_orchestration("retry_exhausted_orchestrator")
    auto_host.wait_for_completion(iid, 10)
    hist = auto_host.history(iid)
    created = {e["EventId"]: e["FireAt"] for e in hist if e["EventType"] == EventType.TimerCreated}
    last_failure = [e["Timestamp"] for e in hist if e["EventType"] == EventType.TaskFailed][-1]
    assert created[3] == last_failure  # timer 3, after the second (last) attempt: no delay


# -- 7. management API ------------------------------------------------------------------------
def test_status_of_a_running_instance_is_202_with_retry_after_5_and_location_the_request(manual_host):
    """extension HttpApiHandler.HandleGetStatusRequestAsync: Running/Pending answer 202,
    `Location` = request.RequestUri, `Retry-After: 5`; the start answer
    (CreateCheckStatusResponse) keeps Location = statusQueryGetUri and Retry-After: 10."""
    r = requests.post(f"{manual_host.api_url}/orchestrators/status_orchestrator/mgmt-1", timeout=5)
    assert r.headers["Retry-After"] == "10" and r.headers["Location"] == r.json()["statusQueryGetUri"]
    url = r.json()["statusQueryGetUri"] + "&showInput=false"
    s = requests.get(url, timeout=5)
    assert s.status_code == 202
    assert s.headers["Retry-After"] == "5" and s.headers["Location"] == url


def test_input_of_a_python_started_instance_reads_back_as_a_json_string(auto_host):
    """extension HandleStartOrchestratorRequestAsync: JsonConvert.DeserializeObject of
    the Python client's `json=df_dumps(input)` body is a string, stored serialized;
    DurableClient.ConvertOrchestrationStateToStatus returns ParseToJToken of it."""
    r = requests.post(
        f"{auto_host.base_url}/durabletask/orchestrators/status_orchestrator/in-1", json='{"a": 1}', timeout=5
    )
    assert r.status_code == 202
    assert auto_host.get_status("in-1")["input"] == '{"a": 1}'
    webhook = requests.post(
        f"{auto_host.api_url}/orchestrators/status_orchestrator/in-2", json={"a": 1}, timeout=5
    )
    assert webhook.status_code == 202
    # the sample starter passes the parsed body to start_new: the client encodes it again
    assert auto_host.get_status("in-2")["input"] == '{"a": 1}'


def test_terminate_is_a_message_the_instance_processes(manual_host):
    """extension HandleTerminateInstanceRequestAsync answers 202 after TerminateAsync
    *sends* ExecutionTerminated; DTFx TaskOrchestrationContext.HandleExecutionTerminatedEvent
    completes the instance when that message is processed, open tasks or not."""
    r = requests.post(
        f"{manual_host.api_url}/orchestrators/approval_orchestrator/term-1", json={"hours": 5}, timeout=5
    )
    manual_host.clock.wait_quiet()
    terminate = r.json()["terminatePostUri"].replace("{text}", "enough")
    assert requests.post(terminate, timeout=5).status_code == 202
    status = manual_host.wait_for_completion("term-1", 5)
    assert status["runtimeStatus"] == "Terminated" and status["output"] == "enough"
    hist = manual_host.history("term-1")
    at = _types(hist).index("ExecutionTerminated")
    assert _types(hist)[at - 1] == "OrchestratorStarted"  # its own episode
    assert hist[-1]["OrchestrationStatus"] == "Terminated"
    assert requests.post(terminate, timeout=5).status_code == 410


def test_runtime_webhooks_take_the_system_key_not_a_function_key(keyed_host):
    """The extension hands out management URLs with `code=` the durabletask_extension
    system key (HttpApiHandler.GetClientResponseLinks / requiredQueryStringParameters);
    the Functions host authorizes /runtime/webhooks at the system level, where a
    function key is refused."""
    r = requests.post(
        f"{keyed_host.api_url}/orchestrators/hello_orchestrator?code=s3cret", json="k", timeout=5
    )
    status_uri = r.json()["statusQueryGetUri"]
    keyed_host.wait_for_completion(r.json()["id"], 5)
    assert requests.get(status_uri, timeout=5).status_code == 200
    with_function_key = status_uri.replace(keyed_host.system_key, "s3cret")
    assert requests.get(with_function_key, timeout=5).status_code == 401
    assert requests.get(status_uri.split("&code=")[0], timeout=5).status_code == 401


# -- 8. activity failures ------------------------------------------------------------------------
def test_task_failed_carries_the_extensions_reason_and_serialized_exception(auto_host):
    """extension TaskActivityShim.RunAsync: reason `Activity function '<name>' failed: ` +
    the friendly message OutOfProcExceptionHelpers.TryGetExceptionWithFriendlyMessage cuts
    from the worker's RpcException ("Result: Failure\\nException: <Type>: <msg>\\nStack: ...",
    so it starts with a space); details = Utils.SerializeCause with the error converter
    (TypeNameHandling.Objects). The SDK's set_task_value raises Exception(f"{Reason} \\n {Details}")."""
    iid = auto_host.start_orchestration("explode_orchestrator")
    output = auto_host.wait_for_completion(iid, 5)["output"]
    failed = next(e for e in auto_host.history(iid) if e["EventType"] == EventType.TaskFailed)
    assert failed["Reason"] == "Activity function 'explode' failed:  RuntimeError: boom 1"
    details = json.loads(failed["Details"])
    assert details["$type"].startswith("System.Exception") and details["Message"] == " RuntimeError: boom 1"
    inner = details["InnerException"]
    assert inner["Message"].startswith("Result: Failure\nException: RuntimeError: boom 1\nStack: ")
    assert output == f"{failed['Reason']} \n {failed['Details']}"


# -- 9. at-least-once activities -------------------------------------------------------------------
def test_the_rerun_switch_runs_each_activity_twice_and_records_the_second(monkeypatch):
    """DTFx delivers activity work items at least once (a lost lock or a host stopping
    mid-execution re-queues the message: TaskActivityShim throws SessionAbortedException
    for FunctionsHostStoppingError); the switch makes that happen to every activity."""
    from devhost.clock import VirtualClock
    from devhost.durable import DurableHost

    clock = VirtualClock(auto=True)
    host = DurableHost(sample_app.app, clock=clock, rerun_activities={"flaky"}).start()
    try:
        sample_app.FLAKY["fail_times"] = 1
        iid = host.start_orchestration("retry_orchestrator")
        status = host.wait_for_completion(iid, 10)
        assert status["output"] == {"attempts": 2, "payload": {"x": 1}}  # the second run's answer
        assert host.metrics.activities_rerun == 1 and sample_app.FLAKY["calls"] == 2
    finally:
        host.stop()
        clock.stop()


# -- timer triggers ---------------------------------------------------------------------------
def test_a_timer_invocation_gets_the_schedule_status_as_it_stood_before_it(manual_host, monkeypatch):
    """Azure/azure-webjobs-sdk-extensions `Timers/Listener/TimerListener.InvokeJobFunction`: the
    TimerInfo carries the status before this invocation (Last = the previous invocation, .NET's
    default DateTime when there was none; Next = the occurrence now firing); it moves on after the
    function returns. The worker decodes it with azure-functions' TimerRequestConverter."""
    from datetime import timedelta

    monkeypatch.setenv("SAMPLE_SCHEDULE", "0 */5 * * * *")
    start = manual_host.clock.now()
    manual_host.schedule_timer_triggers()
    manual_host.clock.advance(600)
    manual_host.clock.wait_quiet()
    first, second = sample_app.TIMER_STATUSES[:2]
    due = start.replace(second=0, microsecond=0) + timedelta(minutes=5 - start.minute % 5)
    assert first["Last"] == "0001-01-01T00:00:00" and first["Next"] == due.isoformat()
    assert second["Last"] == due.isoformat()
    assert second["Next"] == (due + timedelta(minutes=5)).isoformat()


def test_a_timer_more_often_than_once_a_minute_gets_no_schedule_status(manual_host, monkeypatch):
    """TimerTriggerAttribute.UseMonitor defaults to false below a one-minute interval (docs:
    functions-bindings-timer, "useMonitor"), and without the monitor InvokeJobFunction passes a
    null ScheduleStatus, which TimerRequest reads as {}."""
    monkeypatch.setenv("SAMPLE_SCHEDULE", "*/10 * * * * *")
    manual_host.schedule_timer_triggers()
    manual_host.clock.advance(20)
    manual_host.clock.wait_quiet()
    assert sample_app.TIMER_STATUSES and all(status == {} for status in sample_app.TIMER_STATUSES)


def test_an_activity_with_a_durable_client_binding_raises_events_to_other_instances(auto_host):
    """The client binding is an input binding any function may declare, activities included:
    the extension binds `DurableClientAttribute` whatever the trigger
    (azure-functions-durable-extension DurableTaskExtension.Initialize: `BindToInput` for the
    client attribute, no trigger restriction), and the SDK's `durable_client_input` wraps the
    user function whatever its trigger (azure-functions-durable-python
    decorators/durable_app.py `_add_rich_client`). The Python orchestration context has no way
    to raise an event to another instance (DurableOrchestrationContext: no `raise_event`), so
    the sweep watcher relies on this."""
    waiting = auto_host.start_orchestration("status_orchestrator")
    signaller = auto_host.start_orchestration("signaller_orchestrator", waiting)
    assert auto_host.wait_for_completion(signaller, 5)["output"] in ("Running", "Completed")
    assert json.loads(auto_host.wait_for_completion(waiting, 5)["output"]) == {"n": 1}
