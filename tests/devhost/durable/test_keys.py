"""Function keys on the local host, checked as the Azure Functions host checks them.

Sources, Azure/azure-functions-host `src/WebJobs.Script.WebHost`:
`Security/Authentication/Keys/AuthenticationLevelHandler.GetAuthorizationKeyInfoAsync` (the
`x-functions-key` header, else `?code=`; the header wins), `SecretManager.GetAuthorizationLevelAsync`
(master key -> Admin; system key -> System; host key, then the function's own key -> Function)
and `Security/Authorization/AuthUtility.PrincipalHasAuthLevelClaim` (Admin passes everything;
otherwise the level must be the route's; a system route also wants the extension's key name).
"""

from __future__ import annotations

import pytest
import requests

from devhost.clock import VirtualClock
from devhost.durable import DurableHost
from devhost.durable.keys import DURABLE_SYSTEM_KEY_NAME, HostKeys, Level, presented_key
from tests.devhost.durable import sample_app

KEYS = HostKeys(
    master="master-key",
    host={"default": "host-key"},
    functions={"http_start": {"default": "start-only-key"}},
    system={DURABLE_SYSTEM_KEY_NAME: "system-key", "other_extension": "other-system-key"},
)


@pytest.fixture
def host():
    clock = VirtualClock(auto=True)
    host = DurableHost(sample_app.app, clock=clock, keys=KEYS).start()
    yield host
    host.stop()
    clock.stop()


def _start(host: DurableHost, **kwargs) -> requests.Response:
    return requests.post(f"{host.api_url}/orchestrators/hello_orchestrator", json="k", timeout=5, **kwargs)


def test_function_routes_take_host_function_and_master_keys_by_code_or_header(host):
    assert _start(host).status_code == 401
    assert _start(host, params={"code": "wrong"}).status_code == 401
    assert _start(host, params={"code": ""}).status_code == 401
    for key in ("host-key", "start-only-key", "master-key"):
        assert _start(host, params={"code": key}).status_code == 202, key
        assert _start(host, headers={"x-functions-key": key}).status_code == 202, key


def test_a_system_key_does_not_open_a_function_route(host):
    assert _start(host, params={"code": "system-key"}).status_code == 401


def test_the_header_wins_over_code(host):
    assert _start(host, params={"code": "host-key"}, headers={"x-functions-key": "wrong"}).status_code == 401
    assert _start(host, params={"code": "wrong"}, headers={"x-functions-key": "host-key"}).status_code == 202


def test_a_function_key_opens_only_its_own_function(host):
    other = f"{host.api_url}/function-level"
    assert requests.get(other, params={"code": "start-only-key"}, timeout=5).status_code == 401
    assert requests.get(other, params={"code": "host-key"}, timeout=5).status_code == 200


def test_admin_routes_take_only_the_master_key(host):
    url = f"{host.api_url}/admin-only"
    assert requests.get(url, params={"code": "host-key"}, timeout=5).status_code == 401
    assert requests.get(url, params={"code": "system-key"}, timeout=5).status_code == 401
    assert requests.get(url, params={"code": "master-key"}, timeout=5).status_code == 200


def test_webhooks_take_the_durable_system_key_or_the_master_key(host):
    answer = _start(host, params={"code": "host-key"})
    status_uri = answer.json()["statusQueryGetUri"]
    assert "code=system-key" in status_uri
    host.wait_for_completion(answer.json()["id"], 5)
    base = status_uri.split("&code=")[0]
    assert requests.get(status_uri, timeout=5).status_code == 200
    assert requests.get(base, params={"code": "master-key"}, timeout=5).status_code == 200
    for refused in ("host-key", "start-only-key", "other-system-key", ""):
        assert requests.get(base, params={"code": refused}, timeout=5).status_code == 401, refused


def test_anonymous_routes_need_no_key(host):
    assert requests.get(f"{host.api_url}/echo/1", timeout=5).status_code == 200


def test_key_levels_follow_the_host_rules():
    assert KEYS.level_of("master-key", None) == ("_master", Level.ADMIN)
    assert KEYS.level_of("system-key", None) == (DURABLE_SYSTEM_KEY_NAME, Level.SYSTEM)
    assert KEYS.level_of("host-key", None) == ("default", Level.FUNCTION)
    assert KEYS.level_of("start-only-key", "http_start") == ("default", Level.FUNCTION)
    assert KEYS.level_of("start-only-key", "echo") == (None, Level.ANONYMOUS)
    assert KEYS.level_of("h\u00e9", None) == (None, Level.ANONYMOUS)  # any text compares safely
    assert presented_key({"x-functions-key": ""}, {"code": "c"}) is None  # an empty header still wins
    assert presented_key({}, {"code": "c"}) == "c"
