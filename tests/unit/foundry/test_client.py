"""AzureMLClient against a real HTTP server on 127.0.0.1 (no mocking of requests)."""

from __future__ import annotations

import email.utils
import logging
import time
from typing import Any

import pytest

from foundry.auth import StaticTokenProvider
from foundry.client import AzureMLClient, parse_retry_after
from foundry.errors import (
    AuthError,
    AzureMLError,
    BadRequestError,
    ConflictError,
    NotFoundError,
    RequestValidationError,
    ThrottledError,
    TransientError,
)
from foundry.workspace import Workspace
from tests.unit.conftest import WS_ID
from tests.unit.loopback import Reply, Server

TOKEN = "tok-very-secret-123"
JOBS = WS_ID + "/jobs"


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def make(server: Server, **kw: Any) -> tuple[AzureMLClient, Sleeps]:
    sleeps = Sleeps()
    client = AzureMLClient(
        Workspace.parse(WS_ID),
        StaticTokenProvider(TOKEN),
        arm_endpoint=server.url,
        sleep=sleeps,
        timeout=(2, 5),
        **kw,
    )
    return client, sleeps


def job(name: str, job_type: str = "Sweep", **props: Any) -> dict[str, Any]:
    return {
        "id": f"{JOBS}/{name}",
        "name": name,
        "properties": {"jobType": job_type, "status": "Running", **props},
    }


def arm_error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def test_get_job_sends_auth_and_api_version(server: Server) -> None:
    server.script = [Reply(200, job("sweep-1"))]
    client, sleeps = make(server)
    assert client.get_job("sweep-1")["name"] == "sweep-1"
    seen = server.seen[0]
    assert (seen.method, seen.path) == ("GET", f"{JOBS}/sweep-1")
    assert seen.query == {"api-version": ["2024-10-01"]}
    assert seen.headers["Authorization"] == f"Bearer {TOKEN}"
    assert sleeps == []


def test_404_is_not_found_without_retry(server: Server) -> None:
    server.script = [Reply(404, arm_error("UserError", "Job sweep-x not found"))]
    client, sleeps = make(server)
    with pytest.raises(NotFoundError) as exc:
        client.get_job("sweep-x")
    assert exc.value.code == "UserError" and "not found" in exc.value.message
    assert len(server.seen) == 1 and sleeps == []


def test_403_auth_error_names_role(server: Server) -> None:
    server.script = [Reply(403, arm_error("AuthorizationFailed", "The client does not have authorization"))]
    client, _ = make(server)
    with pytest.raises(AuthError) as exc:
        client.get_job("sweep-1")
    assert "AzureML Data Scientist" in (exc.value.hint or "")
    assert TOKEN not in str(exc.value.to_dict())


def test_401_refreshes_token_once(server: Server) -> None:
    class Rotating:
        def __init__(self) -> None:
            self.n = 0

        def get_token(self) -> str:
            self.n += 1
            return f"t{self.n}"

        def invalidate(self) -> None:
            pass

    server.script = [Reply(401, arm_error("ExpiredAuthenticationToken", "expired")), Reply(200, job("a"))]
    client = AzureMLClient(Workspace.parse(WS_ID), Rotating(), arm_endpoint=server.url, sleep=Sleeps())
    assert client.get_job("a")["name"] == "a"
    assert [s.headers["Authorization"] for s in server.seen] == ["Bearer t1", "Bearer t2"]
    server.script = [Reply(401, arm_error("X", "no")), Reply(401, arm_error("X", "no"))]
    with pytest.raises(AuthError):
        client.get_job("a")


def test_429_honours_retry_after_seconds(server: Server) -> None:
    server.script = [
        Reply(429, arm_error("TooManyRequests", "slow"), {"Retry-After": "7"}),
        Reply(429, arm_error("TooManyRequests", "slow"), {"Retry-After": "3"}),
        Reply(200, job("sweep-1")),
    ]
    client, sleeps = make(server)
    assert client.get_job("sweep-1")["name"] == "sweep-1"
    assert sleeps == [7.0, 3.0]
    assert len(server.seen) == 3


def test_retry_after_http_date(server: Server) -> None:
    when = email.utils.formatdate(time.time() + 20, usegmt=True)
    server.script = [Reply(503, "busy", {"Retry-After": when}), Reply(200, job("a"))]
    client, sleeps = make(server)
    client.get_job("a")
    assert len(sleeps) == 1 and 17 <= sleeps[0] <= 21


def test_503_then_200_uses_backoff_with_jitter(server: Server) -> None:
    server.script = [Reply(503, "<html>down</html>"), Reply(502, ""), Reply(200, job("a"))]
    client, sleeps = make(server, backoff_base=1.0)
    client.get_job("a")
    assert len(sleeps) == 2
    assert 0.5 <= sleeps[0] <= 1.0 and 1.0 <= sleeps[1] <= 2.0


def test_retry_after_beyond_budget_stops(server: Server) -> None:
    server.script = [Reply(429, arm_error("TooManyRequests", "slow"), {"Retry-After": "500"})]
    client, sleeps = make(server, max_total_seconds=120)
    with pytest.raises(ThrottledError) as exc:
        client.get_job("a")
    assert sleeps == [] and len(server.seen) == 1
    assert "500" in (exc.value.hint or "")


def test_attempts_exhausted_is_transient(server: Server) -> None:
    server.script = [Reply(500, arm_error("InternalServerError", "oops")) for _ in range(3)]
    client, sleeps = make(server, max_attempts=3)
    with pytest.raises(TransientError) as exc:
        client.get_job("a")
    assert exc.value.status == 500 and len(server.seen) == 3 and len(sleeps) == 2


def test_total_budget_counts_sleeps(server: Server) -> None:
    server.script = [Reply(503, "", {"Retry-After": "50"}) for _ in range(5)]
    client, sleeps = make(server, max_total_seconds=120, max_attempts=10)
    with pytest.raises(TransientError):
        client.get_job("a")
    assert sleeps == [50.0, 50.0]  # a third 50 s wait would exceed 120 s


def test_connection_dropped_then_ok(server: Server) -> None:
    server.script = [Reply(drop=True), Reply(200, job("a"))]
    client, sleeps = make(server)
    assert client.get_job("a")["name"] == "a"
    assert len(sleeps) == 1


def test_connection_refused_exhausts_to_transient() -> None:
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    sleeps = Sleeps()
    client = AzureMLClient(
        Workspace.parse(WS_ID),
        StaticTokenProvider(TOKEN),
        arm_endpoint=f"http://127.0.0.1:{port}",
        sleep=sleeps,
        max_attempts=3,
        timeout=(1, 1),
    )
    with pytest.raises(TransientError) as exc:
        client.get_job("a")
    assert exc.value.code == "ConnectionFailed" and len(sleeps) == 2
    assert TOKEN not in str(exc.value)


def test_put_retried_with_same_body(server: Server) -> None:
    body = {"properties": {"jobType": "Sweep", "displayName": "x"}}
    server.script = [Reply(503, ""), Reply(201, job("new-1"))]
    client, _ = make(server)
    assert client.put_job("new-1", body)["name"] == "new-1"
    assert [s.method for s in server.seen] == ["PUT", "PUT"]
    assert server.seen[0].body == server.seen[1].body == body


def test_put_conflict(server: Server) -> None:
    server.script = [
        Reply(
            400,
            {
                "error": {
                    "code": "UserError",
                    "message": "A job with this name already exists",
                    "details": [{"code": "JobPropertyImmutable", "message": "x"}],
                }
            },
        )
    ]
    client, _ = make(server)
    with pytest.raises(ConflictError):
        client.put_job("new-1", {"properties": {}})


def test_put_bad_request(server: Server) -> None:
    server.script = [Reply(400, arm_error("BadArgument", "computeId is invalid"))]
    client, _ = make(server)
    with pytest.raises(BadRequestError) as exc:
        client.put_job("new-1", {"properties": {}})
    assert exc.value.message == "computeId is invalid"


def test_cancel_accepts_200_and_202(server: Server) -> None:
    server.script = [
        Reply(202, None, {"Location": server.url + "/op", "Retry-After": "10"}),
        Reply(200, {}),
        Reply(404, arm_error("UserError", "not found")),
    ]
    client, sleeps = make(server)
    client.cancel_job("sweep-1")
    client.cancel_job("sweep-1")
    with pytest.raises(NotFoundError):
        client.cancel_job("sweep-1")
    assert [(s.method, s.path) for s in server.seen] == [("POST", f"{JOBS}/sweep-1/cancel")] * 3
    assert sleeps == []


def test_list_follows_next_link_over_three_pages(server: Server) -> None:
    def link(skip: str) -> str:
        return f"{server.url}{JOBS}?api-version=2024-10-01&jobType=Sweep&$skipToken={skip}"

    server.script = [
        Reply(200, {"value": [job("s1"), job("p1", "Pipeline")], "nextLink": link("a")}),
        Reply(429, arm_error("TooManyRequests", "slow"), {"Retry-After": "2"}),
        Reply(200, {"value": [job("s2")], "nextLink": link("b")}),
        Reply(200, {"value": [job("s3"), job("c1", "Command")]}),
    ]
    client, sleeps = make(server)
    names = [j["name"] for j in client.list_jobs("Sweep", tag="team", list_view_type="All")]
    assert names == ["s1", "s2", "s3"]
    assert server.seen[0].query == {
        "api-version": ["2024-10-01"],
        "jobType": ["Sweep"],
        "tag": ["team"],
        "listViewType": ["All"],
    }
    assert server.seen[2].query["$skipToken"] == ["a"]
    assert server.seen[2].query["api-version"] == ["2024-10-01"]  # not duplicated
    assert server.seen[3].query["$skipToken"] == ["b"]
    assert all("$filter" not in s.query and "$top" not in s.query for s in server.seen)
    assert sleeps == [2.0]


def test_next_link_to_other_host_refused(server: Server) -> None:
    server.script = [Reply(200, {"value": [job("s1")], "nextLink": "https://evil.example.com/jobs?x=1"})]
    client, _ = make(server)
    it = client.list_jobs()
    assert next(it)["name"] == "s1"
    with pytest.raises(AzureMLError) as exc:
        next(it)
    assert exc.value.code == "InvalidNextLink"
    assert len(server.seen) == 1


@pytest.mark.parametrize("bad", ["../x", "a/b", "", "a?b", "x" * 256])
def test_names_validated_before_any_request(server: Server, bad: str) -> None:
    client, _ = make(server)
    with pytest.raises(RequestValidationError):
        client.get_job(bad)
    with pytest.raises(RequestValidationError):
        client.put_job(bad, {})
    with pytest.raises(RequestValidationError):
        client.cancel_job(bad)
    assert server.seen == []


def test_non_json_success_body(server: Server) -> None:
    server.script = [Reply(200, "<html>login page</html>")]
    client, _ = make(server)
    with pytest.raises(AzureMLError) as exc:
        client.get_job("a")
    assert exc.value.code == "InvalidResponse"


def test_logs_never_hold_token(server: Server, caplog: pytest.LogCaptureFixture) -> None:
    server.script = [Reply(429, "", {"Retry-After": "1"}), Reply(200, job("a"))]
    client, _ = make(server)
    with caplog.at_level(logging.DEBUG):
        client.get_job("a")
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "GET" in text and "429" in text and "attempt 2" in text
    assert TOKEN not in text and "Bearer" not in text
    assert TOKEN not in repr(client)


def test_parse_retry_after() -> None:
    assert parse_retry_after("12") == 12.0
    assert parse_retry_after("0.5") == 0.5
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0


# -- a sweep's trials: run history through the workspace's discovery URL --------------------
def _workspace_reply(server: Server) -> Reply:
    return Reply(200, {"id": WS_ID, "properties": {"discoveryUrl": f"{server.url}/discovery"}})


def test_child_runs_come_from_the_discovered_data_plane_with_the_ml_token(server):
    """azure-ai-ml: `JobOperations.list(parent_job_name=...)` -> `RunOperations.get_run_children`
    on the discovery document's `api` endpoint (`_get_workspace_url`, key `api`), `$top` from
    `max_results`, scope https://ml.azure.com/.default (`RunHistoryClient`'s configuration); the
    discovery document is downloaded without a credential (`download_text_from_url`)."""
    client, _ = make(server, data_plane_tokens=StaticTokenProvider("ml-token"))
    children = f"/history/v1.0{WS_ID}/runs/sw-1/children"
    server.script = [
        _workspace_reply(server),
        Reply(200, {"api": server.url, "history": server.url}),
        Reply(
            200, {"value": [{"runId": "sw-1_0"}], "nextLink": f"{server.url}{children}?$continuationtoken=x"}
        ),
        Reply(200, {"value": [{"runId": "sw-1_1"}], "nextLink": None}),
        Reply(200, {"value": [{"runId": "sw-1_0"}, {"runId": "sw-1_1"}], "nextLink": None}),
    ]
    runs, complete = client.list_child_runs("sw-1", top=1000, max_pages=5)
    assert [r["runId"] for r in runs] == ["sw-1_0", "sw-1_1"] and complete
    workspace, discovery, first, second = server.seen
    assert workspace.path == WS_ID and workspace.headers["Authorization"] == f"Bearer {TOKEN}"
    assert discovery.path == "/discovery" and "Authorization" not in discovery.headers
    assert first.path == children and first.query == {"$top": ["1000"]}  # no api-version on run history
    assert first.headers["Authorization"] == second.headers["Authorization"] == "Bearer ml-token"
    assert second.query == {"$continuationtoken": ["x"]}
    # The data plane is looked up once per process: the next listing is one call.
    assert len(client.list_child_runs("sw-1", top=1000, max_pages=5)[0]) == 2
    assert len(server.seen) == 5


def test_child_runs_stop_at_the_page_cap(server):
    client, _ = make(server)
    more = {"value": [{"runId": "a"}], "nextLink": f"{server.url}/history/v1.0{WS_ID}/runs/sw-1/children?t=2"}
    server.script = [_workspace_reply(server), Reply(200, {"api": server.url}), Reply(200, more)]
    runs, complete = client.list_child_runs("sw-1", top=1000, max_pages=1)
    assert len(runs) == 1 and complete is False and len(server.seen) == 3


@pytest.mark.parametrize(
    "api", ["http://elsewhere.example", "https://eastus.api.azureml.ms?x=1", None, "ftp://x"]
)
def test_no_token_goes_to_a_data_plane_that_is_not_https(server, api):
    client, _ = make(server)
    server.script = [_workspace_reply(server), Reply(200, {"api": api})]
    with pytest.raises(AzureMLError) as err:
        client.list_child_runs("sw-1", top=10, max_pages=1)
    assert err.value.code == "NoDiscoveryUrl" and len(server.seen) == 2


def test_a_next_link_to_another_host_is_refused(server):
    client, _ = make(server)
    server.script = [
        _workspace_reply(server),
        Reply(200, {"api": server.url}),
        Reply(200, {"value": [], "nextLink": "https://attacker.example/history/v1.0/x"}),
    ]
    with pytest.raises(AzureMLError) as err:
        client.list_child_runs("sw-1", top=10, max_pages=5)
    assert err.value.code == "InvalidNextLink" and len(server.seen) == 3
