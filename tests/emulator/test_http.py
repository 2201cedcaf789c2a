from __future__ import annotations

import requests

from .conftest import Client, assert_arm_error


def test_missing_and_wrong_token_are_401(emu, client):
    resp = requests.get(f"{client.base}/jobs/x", params={"api-version": "2024-10-01"})
    assert_arm_error(resp, 401, "AuthenticationFailed")
    assert "WWW-Authenticate" in resp.headers
    wrong = Client(emu, token="not-the-token")
    assert_arm_error(wrong.get("x"), 401, "InvalidAuthenticationToken")
    assert emu.calls["get"] == 2


def test_api_version_required_and_checked(client):
    resp = client.session.get(f"{client.base}/jobs/x")
    assert_arm_error(resp, 400, "MissingApiVersionParameter")
    resp = client.session.get(f"{client.base}/jobs/x", params={"api-version": "2023-04-01"})
    err = assert_arm_error(resp, 400, "InvalidApiVersionParameter")
    assert "2023-04-01" in err["message"]


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
