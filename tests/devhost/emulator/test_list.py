from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from devhost.emulator import WorkspaceEmulator

from .conftest import Client, assert_arm_error, sweep_body


def test_paging_with_next_link_and_job_type_filter(make_emu):
    emu = make_emu(page_size=3)
    client = Client(emu)
    for i in range(8):
        assert client.put(f"sweep-{i}", sweep_body()).status_code == 201
        if i % 3 == 0:
            body = {
                "properties": {
                    "jobType": "Command",
                    "command": "echo",
                    "environmentId": "azureml:sklearn-env:1",
                }
            }
            assert client.put(f"cmd-{i}", body).status_code == 201
    first = client.list(jobType="Sweep").json()
    assert len(first["value"]) == 3
    link = urlsplit(first["nextLink"])
    assert first["nextLink"].startswith(emu.arm_endpoint + emu.workspace_id + "/jobs?")
    query = parse_qs(link.query)
    assert query["jobType"] == ["Sweep"] and query["api-version"] == ["2024-10-01"] and query["$skipToken"]
    names = [j["name"] for j in client.list_all(jobType="Sweep")]
    assert names == [f"sweep-{i}" for i in reversed(range(8))]  # newest first, no duplicates
    assert len(client.list_all()) == 11
    assert {j["name"] for j in client.list_all(jobType="command")} == {"cmd-0", "cmd-3", "cmd-6"}
    assert emu.calls["list"] >= 3 + 4 + 1


def test_last_page_has_no_next_link(make_emu):
    emu = make_emu(page_size=2)
    client = Client(emu)
    client.put("a", sweep_body())
    client.put("b", sweep_body())
    page = client.list().json()
    assert len(page["value"]) == 2 and "nextLink" not in page


def test_paging_stable_while_jobs_are_added(make_emu):
    emu = make_emu(page_size=2)
    client = Client(emu)
    for i in range(4):
        client.put(f"s{i}", sweep_body())
    first = client.list().json()
    client.put("late", sweep_body())
    rest = client.session.get(first["nextLink"]).json()
    names = [j["name"] for j in first["value"] + rest["value"]]
    assert names == ["s3", "s2", "s1", "s0"]


def test_tag_filter_key_and_key_value(make_emu):
    client = Client(make_emu(page_size=2))
    client.put("a", sweep_body(team="x"))
    client.put("b", sweep_body(team="y"))
    client.put("c", sweep_body())
    assert {j["name"] for j in client.list_all(tag="team")} == {"a", "b"}
    assert [j["name"] for j in client.list_all(tag="team=y")] == ["b"]
    assert client.list_all(tag="team=z") == []
    assert len(client.list_all(tag="polysync.run=r1")) == 3


def test_list_view_type_and_templates(make_emu):
    client = Client(make_emu(templates_dir=WorkspaceEmulator.default_templates_dir(), page_size=2))
    active = {j["name"] for j in client.list_all(jobType="Sweep")}
    assert active == {
        "train-sweep-template",
        "train-sweep-long",
        "train-sweep-forever",
        "train-sweep-fails-trials",
        "train-sweep-loss",
    }
    archived = {j["name"] for j in client.list_all(jobType="Sweep", listViewType="ArchivedOnly")}
    assert archived == {"train-sweep-archived"}
    assert len(client.list_all(listViewType="All")) == 8
    assert len(client.list_all(listViewType="ActiveOnly")) == 7
    assert_arm_error(client.list(listViewType="Nope"), 400, "UserError")
    assert_arm_error(client.list(**{"$skipToken": "garbage!"}), 400, "InvalidSkipToken")


def test_archiving_via_reput_moves_job_between_views(client):
    client.put("a", sweep_body())
    body = sweep_body()
    body["properties"]["isArchived"] = True
    assert client.put("a", body).status_code == 200
    assert client.list_all() == []
    assert [j["name"] for j in client.list_all(listViewType="ArchivedOnly")] == ["a"]
