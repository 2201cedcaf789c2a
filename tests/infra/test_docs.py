"""docs/deploy.md stays in step with the infra it describes; the settings tables with the code."""

from __future__ import annotations

import re

from tests.infra import sources as src
from tests.infra.test_azd import HOOK_KNOBS
from tests.infra.test_bicep import BUILTIN_ROLES

DEPLOY = src.ROOT / "docs" / "deploy.md"
README = src.ROOT / "README.md"


def test_role_table_matches_the_bicep_role_ids():
    text = DEPLOY.read_text(encoding="utf-8")
    rows = src.markdown_table(DEPLOY, "Role assignments (ids checked by `tests/infra`)")
    documented = {r[1]: r[0] for r in rows}
    assert documented == BUILTIN_ROLES
    assert set(re.findall(r"\b[0-9a-f]{8}-(?:[0-9a-f]{4}-){3}[0-9a-f]{12}\b", text)) == set(BUILTIN_ROLES)


def test_deploy_page_covers_the_steps():
    text = DEPLOY.read_text(encoding="utf-8")
    for needle in (
        "azd up",
        "azd env set FOUNDRY_WORKSPACE_ID",
        "infra/eventgrid.bicep",
        "Destination endpoint not found",
        "azd hooks run postdeploy",
        "/api/sweeps/{template}?code=<key>",
        "/api/sweeps?code=<key>",
        "az functionapp function keys list",
        "Durable Task Scheduler",
        "### Permissions the deploying user needs",
        "## Cost",
        # Issue 16: the first-deploy runbook.
        "### 1. Prerequisites",
        "1.24.0",
        "### 2. Configure and `azd up`",
        "### 3. After the first deploy: what to check",
        "config/configreferences/appsettings",
        "az eventgrid system-topic event-subscription show",
        "python -m devhost run --workspace",
        "## What `azd down` removes, and what it leaves",
        "durableAlwaysReadyInstances",
        "durableMaxQueuePollingIntervalSeconds",
        "RUN_SECRETS_VAULT_URL",
        "INSTANCE_ID_KEY",
        "WORKSPACE_COMPUTE_PRINCIPAL_IDS",
    ):
        assert needle in text, needle
    assert "SECRET_SEALING_KEY" not in text, "no longer read (issue 11): nothing to set or keep"
    assert "does not touch the workspace" not in text, (
        "false for azd <= 1.23; say exactly what azd down reaches"
    )


def test_env_values_named_in_the_docs_exist():
    text = DEPLOY.read_text(encoding="utf-8")
    outputs = set(src.bicep("main.bicep")["outputs"])
    for name in re.findall(r"azd env get-value ([A-Z_]+)", text):
        assert name in outputs, name
    params = src.bicep("main.bicep")["parameters"]
    given = (src.INFRA / "main.parameters.json").read_text()
    for name in re.findall(r"azd env set ([A-Z_]+)", text):
        assert "${" + name in given or name in HOOK_KNOBS, (
            f"{name} is read neither by main.parameters.json nor by the hooks"
        )
    assert "sweepEventsEnabled" in params


def _names_in_first_column(rows: list[list[str]]) -> set[str]:
    # A README row may name two settings: "`SWEEP_POLL_FLOOR_SECONDS` / `SWEEP_POLL_CAP_SECONDS`".
    return {name for row in rows for name in re.findall(r"`([A-Za-z_][A-Za-z0-9_]*)`", row[0])}


def test_settings_tables_list_exactly_the_settings_the_code_reads():
    read = set(src.code_setting_names())
    assert "INSTANCE_ID_KEY" in read and "SWEEP_ALLOW_CODE_OVERRIDES" in read
    architecture = _names_in_first_column(src.markdown_table(src.ARCHITECTURE, "## App settings"))
    readme = _names_in_first_column(src.markdown_table(README, "## Settings (app settings)"))
    assert architecture == read, {"not read": architecture - read, "undocumented": read - architecture}
    assert readme == read, {"not read": readme - read, "undocumented": read - readme}
