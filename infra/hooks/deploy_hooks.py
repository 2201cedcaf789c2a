"""azd hooks of the Polysync Foundry sweep connector: `postprovision` and `postdeploy`.

Run by infra/hooks/hook.sh (POSIX) and hook.ps1 (Windows), so both shells share one tested
implementation. Standard library only (Python 3.10+), driving the Azure CLI (`az`, signed in
with `az login`: azd's own sign-in is separate). azd passes main.bicep's outputs as environment
variables.

postprovision
  1. INSTANCE_ID_KEY: creates the secret in the app's Key Vault with a CSPRNG value, only when it
     does not exist yet (stable across redeploys; the value never leaves Azure).
  2. deploys infra/workspace.bicep into the workspace's resource group: the AzureML Data Scientist
     role, the Event Grid system topic (reused when the workspace has one) and run-secret vault
     access. Outside main.bicep on purpose: azd tracks main.bicep's deployment, and azd <= 1.23
     deletes every resource group that deployment touched on `azd down` (Azure/azure-dev#2916).

postdeploy
  1. waits until every Key Vault reference app setting resolves (config/configreferences/appsettings);
     an unresolved reference reaches the app as the literal `@Microsoft.KeyVault(...)` text.
  2. deploys infra/eventgrid.bicep (the subscription needs the deployed function to exist).

Only errors that can pass (throttling, 5xx, a function not listed yet, a principal not replicated
yet) are retried; a permanent one (missing permission, bad template) stops at once with the error.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
INFRA = HERE.parent
WORKSPACE_TEMPLATE = INFRA / "workspace.bicep"
EVENTGRID_TEMPLATE = INFRA / "eventgrid.bicep"

KEY_VAULT_API = "2023-07-01"
EVENT_GRID_API = "2022-06-15"
# GET .../config/configreferences/appsettings is in Microsoft.Web 2024-04-01 (WebApps.json); the
# refresh action is documented (App Service Key Vault references, "Understand rotation") at 2022-03-01.
CONFIG_REFERENCES_API = "2024-04-01"
REFRESH_API = "2022-03-01"

# ARM deployment names: 1..64 of letters, digits, '-', '_', '.', '(', ')'.
DEPLOYMENT_NAME = re.compile(r"^[-\w.()]{1,64}$", re.ASCII)
# Event Grid topic names: 3..50 letters, digits and hyphens (the stricter of the documented limits).
TOPIC_NAME = re.compile(r"^[A-Za-z0-9-]{3,50}$")
GUID = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")

# Deployment/REST errors that retrying cannot fix (ARM error codes as `az` prints them).
PERMANENT_ERRORS = (
    "AuthorizationFailed",
    "LinkedAuthorizationFailed",
    "RoleAssignmentUpdateNotPermitted",
    "InvalidTemplate",
    "InvalidTemplateDeployment",
    "InvalidDeploymentName",
    "DeploymentNameLengthLimitExceeded",
    "MissingSubscriptionRegistration",
    "SubscriptionNotFound",
    "ResourceGroupNotFound",
    "ParentResourceNotFound",
    "InvalidRequestContent",
)
# Errors that pass with time: throttling, service hiccups, Entra replication of a new identity,
# and Event Grid not seeing a just-deployed function yet.
TRANSIENT_ERRORS = (
    "Destination endpoint not found",
    "PrincipalNotFound",
    "does not exist in the directory",
    "TooManyRequests",
    "RetryableError",
    "InternalServerError",
    "ServiceUnavailable",
    "GatewayTimeout",
    "BadGateway",
    "AnotherOperationInProgress",
    "Connection aborted",
    "Connection reset",
    "timed out",
)
# Key Vault reference statuses (Microsoft.Web ResolveStatus).
REFERENCE_RESOLVED = "Resolved"
REFERENCE_PENDING = frozenset({"Initialized", "AccessToKeyVaultDenied", "FetchTimedOut", "OtherReasons"})
REFERENCE_HINTS = {
    "AccessToKeyVaultDenied": "the app identity needs 'Key Vault Secrets User' on the vault (main.bicep assigns it; "
    "a new assignment can take several minutes to apply) and the vault must accept the app's traffic",
    "SecretNotFound": "the secret does not exist: INSTANCE_ID_KEY is created by `azd hooks run postprovision`, "
    "WEBHOOK_SECRET by `azd provision`",
    "SecretVersionNotFound": "the reference names a secret version that does not exist",
    "VaultNotFound": "the vault in the reference does not exist or is not reachable",
    "MSINotEnabled": "keyVaultReferenceIdentity must name the app's user-assigned identity (infra/app/function.bicep)",
    "UnauthorizedClient": "the identity named by keyVaultReferenceIdentity cannot get a token for the vault",
    "InvalidSyntax": "the app setting is not a valid @Microsoft.KeyVault(SecretUri=...) reference",
    "FetchTimedOut": "the vault did not answer in time",
    "Initialized": "the platform has not resolved it yet",
    "OtherReasons": "see the reference's details in the portal (Environment variables)",
    "Missing": "the platform lists no reference for this setting yet",
}


class HookError(Exception):
    """A failure the deploying user must act on; the message says what failed and what to do."""


@dataclass(frozen=True)
class AzResult:
    code: int
    out: str
    err: str


Runner = Callable[[Sequence[str]], AzResult]
Sleep = Callable[[float], None]


def run_az(args: Sequence[str]) -> AzResult:
    """Run the Azure CLI; `shutil.which` also finds `az.cmd` on Windows."""
    az = shutil.which("az")
    if az is None:
        raise HookError("the Azure CLI (az) is required: https://aka.ms/azcli, then `az login`.")
    # The arguments are built by this module (no shell); az is the CLI found on PATH.
    proc = subprocess.run([az, *args, "--only-show-errors"], capture_output=True, text=True, check=False)  # noqa: S603
    return AzResult(proc.returncode, proc.stdout, proc.stderr)


def log(hook: str, message: str) -> None:
    print(f"{hook}: {message}", flush=True)


# --- pure rules --------------------------------------------------------------------------------


def classify(error_text: str) -> str:
    """'permanent' or 'transient'. Unknown errors count as permanent: retrying blindly hides them."""
    if any(marker.lower() in error_text.lower() for marker in PERMANENT_ERRORS):
        return "permanent"
    if any(marker.lower() in error_text.lower() for marker in TRANSIENT_ERRORS):
        return "transient"
    return "permanent"


def deployment_name(prefix: str, token: str) -> str:
    """`<prefix>-<token>`, or `<prefix>-<hash of token>` when that would not be a valid ARM name."""
    name = f"{prefix}-{token}"
    if DEPLOYMENT_NAME.match(name):
        return name
    digest = hashlib.sha256(token.encode("utf-8")).hexdigest()[:16]
    return f"{prefix}-{digest}"


def system_topic_name(workspace_name: str, workspace_id: str) -> str:
    """A valid Event Grid topic name for the workspace: workspace names may hold '_', topic names may not.

    The hash of the workspace id keeps two workspaces whose names differ only by '_' / '-' apart.
    """
    base = re.sub(r"[^A-Za-z0-9-]+", "-", workspace_name).strip("-").lower() or "workspace"
    digest = hashlib.sha256(workspace_id.lower().encode("utf-8")).hexdigest()[:8]
    return f"{f'evgt-{base}'[:41].rstrip('-')}-{digest}"


def principal_ids(raw: str) -> list[str]:
    """WORKSPACE_COMPUTE_PRINCIPAL_IDS: GUIDs separated by commas or spaces."""
    ids = [part for part in re.split(r"[\s,;]+", raw.strip()) if part]
    bad = [part for part in ids if not GUID.match(part)]
    if bad:
        raise HookError(
            f"WORKSPACE_COMPUTE_PRINCIPAL_IDS holds {bad!r}, which are not principal (object) ids: set it to the "
            "compute identities' principal ids, e.g. `az ml compute show -n <cluster> -g <rg> -w <workspace> "
            "--query identity.principal_id -o tsv` (docs/deploy.md)."
        )
    return sorted(set(ids), key=ids.index)


def reference_statuses(payload: Any) -> dict[str, str]:
    """Setting name -> status from a configreferences/appsettings answer."""
    statuses: dict[str, str] = {}
    for entry in (payload or {}).get("value", []):
        name = (entry.get("id") or entry.get("name") or "").rstrip("/").rsplit("/", 1)[-1]
        if name:
            statuses[name] = (entry.get("properties") or {}).get("status") or "Unknown"
    return statuses


# --- environment ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Env:
    values: Mapping[str, str]
    hook: str

    def get(self, name: str, default: str = "") -> str:
        return (self.values.get(name) or default).strip()

    def require(self, name: str) -> str:
        value = self.get(name)
        if not value:
            raise HookError(
                f"{name} is not set; run `azd provision` first (it is an output of infra/main.bicep)."
            )
        return value

    def number(self, name: str, default: int, minimum: int = 1) -> int:
        raw = self.get(name)
        if not raw:
            return default
        if not raw.isdigit() or int(raw) < minimum:
            raise HookError(f"{name} must be a whole number of at least {minimum}, not {raw!r}.")
        return int(raw)

    def flag(self, name: str, default: bool) -> bool:
        raw = self.get(name).lower()
        return default if not raw else raw not in ("false", "0", "no", "off")


# --- Azure operations ----------------------------------------------------------------------------


@contextmanager
def private_json_file(content: Any) -> Iterator[Path]:
    """A JSON file only this user can read, removed afterwards (it may hold a secret)."""
    fd, name = tempfile.mkstemp(prefix="polysync-", suffix=".json")
    try:
        os.chmod(name, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(content, handle)
        yield Path(name)
    finally:
        Path(name).unlink(missing_ok=True)


class Hooks:
    def __init__(self, env: Env, az: Runner = run_az, sleep: Sleep = time.sleep) -> None:
        self.env = env
        self.az = az
        self.sleep = sleep
        self.interval = env.number("HOOK_RETRY_SECONDS", 20, minimum=0)

    def say(self, message: str) -> None:
        log(self.env.hook, message)

    def rest(self, method: str, url: str, body: Path | None = None) -> AzResult:
        args = ["rest", "--method", method, "--url", url]
        if body is not None:
            args += ["--body", f"@{body}", "--headers", "Content-Type=application/json"]
        return self.az(args)

    def rest_json(self, url: str, what: str) -> Any:
        result = self.rest("get", url)
        if result.code != 0:
            raise HookError(f"reading {what} failed:\n{result.err.strip()}")
        try:
            return json.loads(result.out or "null")
        except json.JSONDecodeError:
            raise HookError(
                f"reading {what} returned something that is not JSON: {result.out[:200]!r}"
            ) from None

    def deploy(
        self,
        *,
        what: str,
        prefix: str,
        template: Path,
        subscription: str,
        resource_group: str,
        parameters: Mapping[str, Any],
        attempts: int,
    ) -> None:
        name = deployment_name(prefix, self.env.require("AZURE_RESOURCE_TOKEN"))
        document = {
            "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#",
            "contentVersion": "1.0.0.0",
            "parameters": {key: {"value": value} for key, value in parameters.items()},
        }
        with private_json_file(document) as params:
            for attempt in range(1, attempts + 1):
                result = self.az([
                    "deployment", "group", "create",
                    "--name", name,
                    "--subscription", subscription,
                    "--resource-group", resource_group,
                    "--template-file", str(template),
                    "--parameters", f"@{params}",
                    "--output", "none",
                ])  # fmt: skip
                if result.code == 0:
                    self.say(f"{what}: deployment {name} succeeded.")
                    return
                error = result.err.strip()
                if classify(error) == "permanent":
                    raise HookError(
                        f"{what}: deployment {name} failed with an error that retrying cannot fix:\n{error}\n"
                        "Permissions the deploying user needs are in docs/deploy.md; rerun with `azd hooks run "
                        f"{self.env.hook}` once fixed."
                    )
                if attempt == attempts:
                    raise HookError(
                        f"{what}: deployment {name} still failing after {attempts} attempts:\n{error}\n"
                        f"Rerun with `azd hooks run {self.env.hook}`."
                    )
                self.say(
                    f"{what}: attempt {attempt} of {attempts} hit a passing error; retrying in {self.interval} s."
                )
                self.sleep(self.interval)

    # postprovision ------------------------------------------------------------------------------

    def ensure_instance_id_key(self) -> None:
        vault_id = self.env.require("AZURE_KEY_VAULT_ID")
        secret = self.env.require("INSTANCE_ID_KEY_SECRET_NAME")
        url = f"{vault_id}/secrets/{secret}?api-version={KEY_VAULT_API}"
        found = self.rest("get", url)
        if found.code == 0:
            self.say(f"INSTANCE_ID_KEY: secret {secret} exists; kept (instance ids stay stable).")
            return
        if not any(
            marker in found.err for marker in ("SecretNotFound", "ResourceNotFound", "Not Found", "NotFound")
        ):
            raise HookError(
                f"INSTANCE_ID_KEY: could not read secret {secret} in {vault_id}:\n{found.err.strip()}"
            )
        body = {"properties": {"value": secrets.token_urlsafe(48), "contentType": "text/plain"}}
        with private_json_file(body) as payload:
            created = self.rest("put", url, payload)
        if created.code != 0:
            raise HookError(
                f"INSTANCE_ID_KEY: creating secret {secret} in {vault_id} failed:\n{created.err.strip()}"
            )
        self.say(f"INSTANCE_ID_KEY: created secret {secret} (random, 48 bytes); it is kept on later runs.")

    def resolve_system_topic(self) -> tuple[str, bool]:
        """(name, create): the workspace's existing system topic, or the name to create one under."""
        explicit = self.env.get("EVENTGRID_EXISTING_SYSTEM_TOPIC")
        if explicit:
            return explicit, False
        workspace_id = self.env.require("FOUNDRY_WORKSPACE_ID")
        subscription = self.env.require("FOUNDRY_WORKSPACE_SUBSCRIPTION_ID")
        group = self.env.require("FOUNDRY_WORKSPACE_RESOURCE_GROUP")
        url = (
            f"/subscriptions/{subscription}/resourceGroups/{group}/providers/Microsoft.EventGrid/systemTopics"
            f"?api-version={EVENT_GRID_API}"
        )
        for _ in range(20):  # pages
            page = self.rest_json(url, f"the Event Grid system topics of resource group {group}")
            for topic in (page or {}).get("value", []):
                source = ((topic.get("properties") or {}).get("source") or "").lower()
                if source == workspace_id.lower():
                    return topic["name"], False
            url = (page or {}).get("nextLink") or ""
            if not url:
                break
        name = system_topic_name(self.env.require("FOUNDRY_WORKSPACE_NAME"), workspace_id)
        assert TOPIC_NAME.match(name), name
        return name, True

    def vault_uses_rbac(self, vault_id: str) -> bool:
        vault = self.rest_json(f"{vault_id}?api-version={KEY_VAULT_API}", f"Key Vault {vault_id}")
        return bool(((vault or {}).get("properties") or {}).get("enableRbacAuthorization"))

    def postprovision(self) -> None:
        self.ensure_instance_id_key()
        if self.env.flag("SWEEP_EVENTS_ENABLED", True):
            topic, create = self.resolve_system_topic()
            self.say(f"Event Grid system topic: {'creating' if create else 'reusing'} {topic}.")
        else:
            workspace = self.env.require("FOUNDRY_WORKSPACE_NAME")
            topic, create = system_topic_name(workspace, self.env.require("FOUNDRY_WORKSPACE_ID")), False
            self.say("SWEEP_EVENTS_ENABLED is false (polling only): no Event Grid system topic.")
        vault_id = self.env.get("RUN_SECRETS_VAULT_ID")
        computes = principal_ids(self.env.get("WORKSPACE_COMPUTE_PRINCIPAL_IDS"))
        uses_rbac = True
        if vault_id:
            uses_rbac = self.vault_uses_rbac(vault_id)
            mode = "Azure RBAC" if uses_rbac else "access policies"
            self.say(
                f"run secrets: vault {vault_id.rsplit('/', 1)[-1]} ({mode}); {len(computes)} compute identities."
            )
            if not computes:
                self.say(
                    "run secrets: WORKSPACE_COMPUTE_PRINCIPAL_IDS is empty, so training scripts cannot read run "
                    "secrets yet (docs/deploy.md)."
                )
        else:
            self.say("run secrets: no vault (RUN_SECRETS_VAULT_ID is empty): Secret parameters are refused.")
        self.deploy(
            what="workspace access",
            prefix="polysync-workspace",
            template=WORKSPACE_TEMPLATE,
            subscription=self.env.require("FOUNDRY_WORKSPACE_SUBSCRIPTION_ID"),
            resource_group=self.env.require("FOUNDRY_WORKSPACE_RESOURCE_GROUP"),
            parameters={
                "workspaceName": self.env.require("FOUNDRY_WORKSPACE_NAME"),
                "appPrincipalId": self.env.require("AZURE_FUNCTION_APP_PRINCIPAL_ID"),
                "createSystemTopic": create,
                "systemTopicName": topic,
                "runSecretsVaultId": vault_id,
                "runSecretsVaultUsesRbac": uses_rbac,
                "computePrincipalIds": computes,
                "tags": {"azd-env-name": self.env.require("AZURE_ENV_NAME")},
            },
            attempts=self.env.number("WORKSPACE_DEPLOY_ATTEMPTS", 6),
        )

    # postdeploy ---------------------------------------------------------------------------------

    def check_key_vault_references(self) -> None:
        app_id = self.env.require("AZURE_FUNCTION_APP_ID")
        expected = [s for s in self.env.require("KEY_VAULT_REFERENCE_SETTINGS").split(",") if s]
        attempts = self.env.number("KEY_VAULT_REFERENCE_ATTEMPTS", 30)
        statuses: dict[str, str] = {}
        for attempt in range(1, attempts + 1):
            refresh = self.rest(
                "post", f"{app_id}/config/configreferences/appsettings/refresh?api-version={REFRESH_API}"
            )
            if refresh.code != 0 and attempt == 1:
                self.say("Key Vault references: the refresh call failed; reading the statuses anyway.")
            answer = self.rest(
                "get", f"{app_id}/config/configreferences/appsettings?api-version={CONFIG_REFERENCES_API}"
            )
            if answer.code != 0:
                if classify(answer.err) == "permanent":
                    raise HookError(
                        f"reading the Key Vault reference status of {app_id} failed:\n{answer.err.strip()}"
                    )
            else:
                statuses = reference_statuses(json.loads(answer.out or "null"))
            current = {name: statuses.get(name, "Missing") for name in expected}
            broken = {
                n: s
                for n, s in current.items()
                if s not in REFERENCE_PENDING | {REFERENCE_RESOLVED, "Missing"}
            }
            if broken:
                raise HookError(self._reference_report("Key Vault references cannot resolve", broken))
            pending = {n: s for n, s in current.items() if s != REFERENCE_RESOLVED}
            if not pending:
                self.say(f"Key Vault references resolved: {', '.join(expected)}.")
                return
            if attempt == attempts:
                raise HookError(
                    self._reference_report(
                        f"Key Vault references still unresolved after {attempts} checks", pending
                    )
                )
            self.say(
                "Key Vault references not resolved yet ("
                + ", ".join(f"{n}: {s}" for n, s in sorted(pending.items()))
                + f"); checking again in {self.interval} s."
            )
            self.sleep(self.interval)

    @staticmethod
    def _reference_report(title: str, problems: Mapping[str, str]) -> str:
        lines = [f"{title}:"]
        for name, status in sorted(problems.items()):
            lines.append(
                f"  {name}: {status}: {REFERENCE_HINTS.get(status, 'see the portal, Environment variables')}"
            )
        lines.append(
            "Until they resolve, the app receives the literal @Microsoft.KeyVault(...) text and refuses it. "
            "Fix the cause, then `azd hooks run postdeploy` (docs/deploy.md, After the first deploy)."
        )
        return "\n".join(lines)

    def postdeploy(self) -> None:
        self.check_key_vault_references()
        if not self.env.flag("SWEEP_EVENTS_ENABLED", True):
            self.say("SWEEP_EVENTS_ENABLED is false (polling only): no Event Grid subscription.")
            return
        topic, create = self.resolve_system_topic()
        if create:
            raise HookError(
                "the workspace has no Event Grid system topic yet: run `azd hooks run postprovision` (it creates "
                "one), then `azd hooks run postdeploy`."
            )
        self.deploy(
            what=f"Event Grid subscription on {topic}",
            prefix="polysync-eventgrid",
            template=EVENTGRID_TEMPLATE,
            subscription=self.env.require("FOUNDRY_WORKSPACE_SUBSCRIPTION_ID"),
            resource_group=self.env.require("FOUNDRY_WORKSPACE_RESOURCE_GROUP"),
            parameters={
                "systemTopicName": topic,
                "functionAppId": self.env.require("AZURE_FUNCTION_APP_ID"),
                "subscriptionName": self.env.require("EVENTGRID_SUBSCRIPTION_NAME"),
                "taskHubName": self.env.require("TASKHUB_NAME"),
            },
            attempts=self.env.number("EVENTGRID_DEPLOY_ATTEMPTS", 10),
        )


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("hook", choices=("postprovision", "postdeploy"))
    hook = parser.parse_args(argv).hook
    try:
        hooks = Hooks(Env(os.environ if environ is None else environ, hook))
        getattr(hooks, hook)()
    except HookError as error:
        print(f"{hook}: {error}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
