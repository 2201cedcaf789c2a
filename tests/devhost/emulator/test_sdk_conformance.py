"""The official azure-ai-ml SDK (pinned in requirements-dev.txt) is the judge of the
emulator: every test drives the emulator with an unmodified `MLClient`, through the SDK's
own public API, with the api-versions the SDK sends (no rewriting, no shims).

Transports: behind the local TLS front (https, as Azure is) every operation runs; over
plain http only the operations whose SDK clients allow a bearer token without TLS
(azure-core's `BearerTokenCredentialPolicy` refuses it for the others, so there the SDK
itself raises before sending anything).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest

from devhost.clock import VirtualClock
from devhost.emulator import WorkspaceEmulator
from devhost.emulator.sdk import EmulatorCredential, ml_client_kwargs
from devhost.emulator.tls_front import TlsFront

ml = pytest.importorskip("azure.ai.ml", reason="azure-ai-ml is a dev dependency (requirements-dev.txt)")
from azure.ai.ml import MLClient, command  # noqa: E402
from azure.ai.ml.constants import ListViewType  # noqa: E402
from azure.ai.ml.entities import AmlCompute, Command, Environment, PipelineJob  # noqa: E402
from azure.ai.ml.sweep import (  # noqa: E402
    BanditPolicy,
    Choice,
    LogUniform,
    QUniform,
    Randint,
    SweepJob,
    Uniform,
)

HTTP_OPERATIONS_REFUSED_BY_SDK = "azure-core refuses a bearer token over http for this SDK client"


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing the SDK does may leave the machine (telemetry, cloud metadata, ...)."""
    real_connect = socket.socket.connect

    def connect(sock: socket.socket, address: Any) -> Any:
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and host not in ("127.0.0.1", "::1", "localhost"):
            raise AssertionError(f"the SDK tried to reach {address} (tests reach loopback only)")
        return real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", connect)


@pytest.fixture
def vclock() -> Iterator[VirtualClock]:
    clock = VirtualClock(auto=False).start()
    yield clock
    clock.stop()


@pytest.fixture
def emu(vclock: VirtualClock) -> Iterator[WorkspaceEmulator]:
    emulator = WorkspaceEmulator(
        clock=vclock, templates_dir=WorkspaceEmulator.default_templates_dir(), page_size=3
    ).start()
    yield emulator
    emulator.stop()


@pytest.fixture(autouse=True)
def strict(emu: WorkspaceEmulator, request: pytest.FixtureRequest) -> Iterator[None]:
    """The SDK papers over some refusals (archive falls back to a PUT when run history's PATCH
    fails, list drops entries it cannot parse): every test ends with the emulator having
    refused nothing the test did not ask for."""
    yield
    refused = {key: n for key, n in emu.calls_by_job.items() if key[2] >= 400 or key[2] == 0}
    if request.node.name.startswith("test_unknown_job_is_resource_not_found"):
        refused.pop(("get", "no-such-job", 404), None)
    assert refused == {}


@pytest.fixture(params=["https", "http"])
def transport(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def client(emu: WorkspaceEmulator, transport: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[MLClient]:
    monkeypatch.delenv("AZUREML_CURRENT_CLOUD", raising=False)  # MLClient records its cloud here
    if transport == "http":
        yield MLClient(
            EmulatorCredential(emu.token),
            emu.subscription_id,
            emu.resource_group,
            emu.workspace_name,
            **ml_client_kwargs(emu.arm_endpoint),
        )
        return
    with TlsFront("127.0.0.1", emu.port) as front:
        yield MLClient(
            EmulatorCredential(emu.token),
            emu.subscription_id,
            emu.resource_group,
            emu.workspace_name,
            **ml_client_kwargs(front.url, ca_bundle=front.ca_path),
        )


def https_only(transport: str) -> None:
    if transport == "http":
        pytest.skip(HTTP_OPERATIONS_REFUSED_BY_SDK)


def sdk_sweep() -> SweepJob:
    trial = command(
        command="python train.py --lr ${{inputs.lr}} --bs ${{inputs.bs}} --opt ${{inputs.opt}} --n ${{inputs.n}}",
        environment="azureml:sklearn-env:3",
        compute="cpu-cluster",
        inputs={"lr": 0.01, "bs": 32, "opt": "adam", "n": 10, "wd": 0.001, "k": 3},
        experiment_name="sdk-conformance",
    )
    sweep = trial(
        lr=Uniform(min_value=0.001, max_value=0.1),
        bs=Choice([16, 32, 64]),
        opt=Choice(["adam", "sgd"]),
        n=Randint(upper=100),
        wd=LogUniform(min_value=-9, max_value=-3),
        k=QUniform(min_value=1, max_value=10, q=1),
    ).sweep(
        primary_metric="accuracy",
        goal="maximize",
        sampling_algorithm="random",
        compute="cpu-cluster",
        early_termination_policy=BanditPolicy(slack_factor=0.1, evaluation_interval=1, delay_evaluation=5),
    )
    sweep.set_limits(max_total_trials=6, max_concurrent_trials=2, timeout=7200)
    sweep.display_name = "sdk conformance sweep"
    sweep.tags = {"suite": "conformance"}
    return sweep


def test_list_follows_every_page(client: MLClient, emu: WorkspaceEmulator, transport: str) -> None:
    """`jobs.list()` follows `nextLink` (built from the caller's host and scheme, api-version
    kept) to the end; archived jobs only with `ListViewType.ARCHIVED_ONLY`."""
    https_only(transport)
    expected = [j["name"] for j in emu.jobs() if not j["properties"].get("isArchived")]
    assert len(expected) > emu.page_size * 2  # at least three pages
    names = [job.name for job in client.jobs.list()]
    assert names == expected
    archived = [job.name for job in client.jobs.list(list_view_type=ListViewType.ARCHIVED_ONLY)]
    assert archived == ["train-sweep-archived"]
    assert emu.calls["list"] >= 4


def test_every_example_job_loads_into_its_entity(
    client: MLClient, emu: WorkspaceEmulator, transport: str
) -> None:
    """`jobs.get` turns each seeded resource into the SDK's entity (`Job._from_rest_object`)."""
    kinds = {"Sweep": SweepJob, "Command": Command, "Pipeline": PipelineJob}
    for resource in emu.jobs():
        job_type = resource["properties"]["jobType"]
        if job_type == "Pipeline" and transport == "http":
            continue  # resolving a pipeline job reads the workspace: https only (see module docstring)
        job = client.jobs.get(resource["name"])
        assert isinstance(job, kinds[job_type]), resource["name"]
        assert job.name == resource["name"]
        assert job.status == resource["properties"]["status"]


def test_sweep_template_round_trips_intact(client: MLClient) -> None:
    """Search space, objective, limits, sampling and early termination survive the SDK's parse."""
    job = client.jobs.get("train-sweep-template")
    assert isinstance(job, SweepJob)
    assert set(job.search_space) == {"learning_rate", "batch_size", "n_estimators", "optimizer"}
    assert isinstance(job.search_space["learning_rate"], Uniform)
    assert (job.search_space["learning_rate"].min_value, job.search_space["learning_rate"].max_value) == (
        0.001,
        0.1,
    )
    assert isinstance(job.search_space["batch_size"], Choice) and job.search_space["batch_size"].values == [
        16,
        32,
        64,
    ]
    assert (
        isinstance(job.search_space["n_estimators"], Randint)
        and job.search_space["n_estimators"].upper == 500
    )
    assert job.objective.primary_metric == "accuracy" and job.objective.goal.lower() == "maximize"
    assert job.limits.max_total_trials == 10 and job.limits.max_concurrent_trials == 2
    assert job.sampling_algorithm.type.lower() == "random"
    assert isinstance(job.early_termination, BanditPolicy) and job.early_termination.slack_factor == 0.1


def test_sdk_built_sweep_runs_to_completed_with_its_trials(
    client: MLClient, emu: WorkspaceEmulator, vclock: VirtualClock, transport: str
) -> None:
    """A SweepJob built with the SDK's distributions is accepted as sent (api-version the SDK
    chose), runs on the clock, and ends Completed with a best trial among its child runs."""
    created = client.jobs.create_or_update(sdk_sweep())
    assert isinstance(created, SweepJob)
    assert created.status == "NotStarted"
    assert isinstance(created.search_space["n"], Randint) and isinstance(
        created.search_space["wd"], LogUniform
    )
    assert isinstance(created.search_space["k"], QUniform) and created.search_space["k"].q == 1
    assert created.tags["suite"] == "conformance"
    assert created.objective.goal.lower() == "maximize"
    vclock.advance(40)
    assert client.jobs.get(created.name).status == "Running"
    vclock.advance(300)
    done = client.jobs.get(created.name)
    assert done.status == "Completed"
    best = done.properties["best_child_run_id"]
    if transport == "https":
        trials = list(client.jobs.list(parent_job_name=created.name))
        assert sorted(t.name for t in trials) == sorted(f"{created.name}_{k}" for k in range(6))
        assert {t.status for t in trials} == {"Completed"}
        assert best in {t.name for t in trials}
        assert all(t.experiment_name for t in trials)


def test_sweep_trials_list_while_running(client: MLClient, vclock: VirtualClock, transport: str) -> None:
    """The trials are child runs in run history (reached through the discovery URL): the first
    wave runs while the rest wait (`maxConcurrentTrials`)."""
    https_only(transport)
    created = client.jobs.create_or_update(sdk_sweep())
    vclock.advance(31)
    trials = list(client.jobs.list(parent_job_name=created.name))
    statuses = sorted(t.status for t in trials)
    assert statuses == ["Queued"] * 4 + ["Running"] * 2


def test_begin_cancel_polls_to_done(client: MLClient, emu: WorkspaceEmulator, vclock: VirtualClock) -> None:
    """`begin_cancel` follows the `Location` operation (caller's api-version) until the job is
    Canceled."""
    emu.cancel_retry_after_seconds = 1  # wall seconds the SDK's poller sleeps between polls
    created = client.jobs.create_or_update(sdk_sweep())
    vclock.advance(40)
    poller = client.jobs.begin_cancel(created.name)
    assert client.jobs.get(created.name).status == "CancelRequested"
    vclock.advance(emu.cancel_seconds)
    poller.result(timeout=30)
    assert poller.done()
    assert client.jobs.get(created.name).status == "Canceled"
    assert emu.calls["operation"] >= 1


def test_archive_restore_and_update_tags(client: MLClient, emu: WorkspaceEmulator, transport: str) -> None:
    """`archive`/`restore`/`update` go through run history's PATCH (tags merge; `hidden` is
    `isArchived`), and the ARM view shows the change."""
    https_only(transport)
    created = client.jobs.create_or_update(sdk_sweep())
    updated = client.jobs.update(created.name, tags={"owner": "ml-platform"}, display_name="renamed")
    assert updated.tags["owner"] == "ml-platform" and updated.tags["suite"] == "conformance"
    assert updated.display_name == "renamed"
    client.jobs.archive(created.name)
    assert emu.job(created.name)["properties"]["isArchived"] is True
    assert created.name not in [j.name for j in client.jobs.list()]
    assert created.name in [j.name for j in client.jobs.list(list_view_type=ListViewType.ARCHIVED_ONLY)]
    client.jobs.restore(created.name)
    assert emu.job(created.name)["properties"]["isArchived"] is False
    assert emu.calls["runhistory"] == 3


def test_the_sdk_is_served_at_the_api_versions_it_chose(
    client: MLClient, emu: WorkspaceEmulator, transport: str
) -> None:
    """No rewriting: each SDK client sends its own api-version and is answered at it."""
    https_only(transport)
    client.jobs.create_or_update(sdk_sweep())
    client.jobs.get("train-sweep-template")
    client.compute.get("cpu-cluster")
    client.environments.get("sklearn-env", version="1")
    client.workspaces.get(emu.workspace_name)
    versions = {version for (_kind, version) in emu.api_versions_seen}
    assert len(versions) >= 4, emu.api_versions_seen
    assert "2024-10-01" not in versions  # the connector's version; the SDK sends others


def test_compute_get_list_and_create(client: MLClient, transport: str) -> None:
    """`compute.get`, `compute.list` and `begin_create_or_update` (PUT) with the SDK's versions."""
    https_only(transport)
    cluster = client.compute.get("cpu-cluster")
    assert isinstance(cluster, AmlCompute) and cluster.size == "STANDARD_DS3_V2"
    assert {c.name for c in client.compute.list()} >= {"cpu-cluster", "gpu-cluster", "cpu-cluster-lowpri"}
    new = client.compute.begin_create_or_update(
        AmlCompute(name="big-cluster", size="STANDARD_D13_V2", min_instances=0, max_instances=3)
    ).result(timeout=30)
    assert new.name == "big-cluster"
    assert client.compute.get("big-cluster").max_instances == 3


def test_environments_by_version_latest_and_curated(client: MLClient, transport: str) -> None:
    """`environments.get` by version, `@latest` as the SDK resolves it (list newest first,
    `$top=1`), and a curated environment visible in the workspace."""
    env = client.environments.get("sklearn-env", version="2")
    assert isinstance(env, Environment) and env.version == "2"
    curated = client.environments.get("AzureML-sklearn-1.0-ubuntu20.04-py38-cpu", version="33")
    assert curated.version == "33"
    if transport == "https":
        assert client.environments.get("sklearn-env", label="latest").version == "3"


def test_unknown_job_is_resource_not_found(client: MLClient) -> None:
    from azure.core.exceptions import ResourceNotFoundError

    with pytest.raises(ResourceNotFoundError):
        client.jobs.get("no-such-job")
