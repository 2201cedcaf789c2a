from __future__ import annotations

import requests

from .conftest import Client, assert_arm_error, sweep_body


def test_missing_and_wrong_token_are_401(emu, client):
    resp = requests.get(f"{client.base}/jobs/x", params={"api-version": "2024-10-01"})
    assert_arm_error(resp, 401, "AuthenticationFailed")
    assert "WWW-Authenticate" in resp.headers
    wrong = Client(emu, token="not-the-token")
    assert_arm_error(wrong.get("x"), 401, "InvalidAuthenticationToken")
    assert emu.calls["get"] == 2


def test_api_versions_are_the_published_ones_per_operation(client):
    """Accepted api-versions follow Azure/azure-rest-api-specs (Microsoft.MachineLearningServices
    readme tags and version folders): jobs are in every `mfe.json` version (2021-03-01-preview
    on), workspaces and computes in every version; ARM refuses the rest as
    NoRegisteredProviderFound (naming the supported ones), a malformed one as
    InvalidApiVersionParameter, a missing one as MissingApiVersionParameter."""
    resp = client.session.get(f"{client.base}/jobs/x")
    assert_arm_error(resp, 400, "MissingApiVersionParameter")
    for version in (
        "2021-03-01-preview",
        "2023-04-01",
        "2024-01-01-preview",
        "2025-01-01-preview",
        "2025-12-01",
    ):
        resp = client.session.get(f"{client.base}/jobs/x", params={"api-version": version})
        assert_arm_error(resp, 404, "UserError")  # accepted: the job does not exist
    resp = client.session.get(f"{client.base}/jobs/x", params={"api-version": "2020-06-01"})
    err = assert_arm_error(resp, 400, "NoRegisteredProviderFound")
    assert "'2020-06-01'" in err["message"] and "workspaces/jobs" in err["message"]
    assert "2024-10-01" in err["message"] and "2020-09-01-preview" not in err["message"]
    assert client.session.get(client.base, params={"api-version": "2020-06-01"}).status_code == 200
    resp = client.session.get(f"{client.base}/computes/cpu-cluster", params={"api-version": "2019-05-01"})
    assert resp.status_code == 200
    resp = client.session.get(f"{client.base}/jobs/x", params={"api-version": "2030-01-01"})
    assert_arm_error(resp, 400, "NoRegisteredProviderFound")
    resp = client.session.get(f"{client.base}/jobs/x", params={"api-version": "latest"})
    assert_arm_error(resp, 400, "InvalidApiVersionParameter")


def test_links_follow_the_callers_host_scheme_and_api_version(make_emu):
    """Absolute links are built from the request's `Host` and `X-Forwarded-Proto` (a client
    behind TLS or a proxy must be able to follow them) and echo the caller's api-version, as
    the recorded PUT's `Location` does (tests/recordings, `?api-version=2023-04-01-preview`)."""
    emu = make_emu(page_size=1)
    client = Client(emu)
    client.put("a", sweep_body())
    client.put("b", sweep_body())
    headers = {"Host": "ml.example.test:8443", "X-Forwarded-Proto": "https"}
    params = {"api-version": "2024-01-01-preview"}
    page = client.session.get(f"{client.base}/jobs", params=params, headers=headers).json()
    assert page["nextLink"].startswith(f"https://ml.example.test:8443{emu.workspace_id}/jobs?")
    assert "api-version=2024-01-01-preview" in page["nextLink"]
    resp = client.session.put(f"{client.base}/jobs/c", params=params, headers=headers, json=sweep_body())
    assert (
        resp.headers["Location"]
        == f"https://ml.example.test:8443{emu.workspace_id}/jobs/c?api-version=2024-01-01-preview"
    )
    resp = client.session.post(f"{client.base}/jobs/c/cancel", params=params, headers=headers)
    assert resp.headers["Location"].startswith("https://ml.example.test:8443/subscriptions/")
    assert resp.headers["Location"].endswith("?api-version=2024-01-01-preview")
    ws = client.session.get(client.base, params={"api-version": "2024-10-01-preview"}, headers=headers).json()
    assert ws["properties"]["discoveryUrl"] == "https://ml.example.test:8443/discovery"
    plain = client.session.get(f"{client.base}/jobs", params=params).json()
    assert plain["nextLink"].startswith(emu.arm_endpoint)


def test_get_unknown_job_is_404_arm_shape(client):
    resp = client.get("nope")
    err = assert_arm_error(resp, 404, "UserError")
    assert "nope" in err["message"]
    assert err["details"][0]["code"] == "NotFoundError"
    assert resp.headers["x-ms-ratelimit-remaining-subscription-reads"].isdigit()


def test_wrong_workspace_and_unknown_routes_are_404(emu, client):
    other = client.base.replace("foundry-dev", "other-ws")
    resp = client.session.get(f"{other}/jobs/x", params={"api-version": "2024-10-01"})
    err = assert_arm_error(resp, 404, "ResourceNotFound")
    assert err["details"][0]["code"] == "WorkspaceNotFound"
    resp = client.session.get(
        client.base.replace("rg-polysync-dev", "rg-x") + "/jobs", params={"api-version": "2024-10-01"}
    )
    assert_arm_error(resp, 404, "ResourceGroupNotFound")
    resp = client.session.get(f"{client.base}/datastores", params={"api-version": "2024-10-01"})
    assert_arm_error(resp, 404, "NotFound")
    resp = client.session.get(f"{emu.arm_endpoint}/whatever", params={"api-version": "2024-10-01"})
    assert_arm_error(resp, 404, "NotFound")


def test_provider_segment_is_case_insensitive(client):
    base = client.base.replace("Microsoft.MachineLearningServices", "microsoft.machinelearningservices")
    resp = client.session.get(f"{base}/jobs", params={"api-version": "2024-10-01"})
    assert resp.status_code == 200
    assert resp.json() == {"value": []}


def test_write_headers_and_invalid_json(client):
    resp = client.session.put(
        f"{client.base}/jobs/j1", params={"api-version": "2024-10-01"}, data=b"{not json"
    )
    assert_arm_error(resp, 400, "InvalidRequestContent")
    assert resp.headers["x-ms-ratelimit-remaining-subscription-writes"].isdigit()
