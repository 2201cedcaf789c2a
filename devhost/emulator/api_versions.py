"""Which `api-version`s the emulator accepts, per operation family, as ARM does.

Source: Azure/azure-rest-api-specs, `specification/machinelearningservices/resource-manager/
Microsoft.MachineLearningServices/` - the AutoRest readme's tags (readme.md, commit 343afb3,
whose newest tag is package-preview-2025-07) list each api-version's input files, plus the
version folders published after it (stable/2025-09-01, preview/2025-10-01-preview,
stable/2025-12-01, each with an mfe.json). Jobs, environments and the job operation results
are in `mfe.json` (the "management front end"), first published in 2021-03-01-preview;
workspaces and computes are in `machineLearningServices.json` / `workspaceRP.json`, in every
version. 2020-09-01-preview's `jobs.json` holds labeling jobs only, so it does not serve `/jobs`.

ARM refuses an api-version the resource type does not register with 400
`NoRegisteredProviderFound` (naming the supported versions), a string that is not an
api-version at all with 400 `InvalidApiVersionParameter`, and a missing one with 400
`MissingApiVersionParameter`.
"""

from __future__ import annotations

import re

from .errors import ArmError

# Versions whose spec includes mfe.json (jobs, environments, codes, ...).
MFE_VERSIONS: frozenset[str] = frozenset(
    {
        "2021-03-01-preview",
        "2022-02-01-preview",
        "2022-05-01",
        "2022-06-01-preview",
        "2022-10-01",
        "2022-10-01-preview",
        "2022-12-01-preview",
        "2023-02-01-preview",
        "2023-04-01",
        "2023-04-01-preview",
        "2023-06-01-preview",
        "2023-08-01-preview",
        "2023-10-01",
        "2024-01-01-preview",
        "2024-04-01",
        "2024-04-01-preview",
        "2024-07-01-preview",
        "2024-10-01",
        "2024-10-01-preview",
        "2025-01-01-preview",
        "2025-04-01",
        "2025-04-01-preview",
        "2025-06-01",
        "2025-07-01-preview",
        "2025-09-01",
        "2025-10-01-preview",
        "2025-12-01",
    }
)

# Every published version: workspaces and computes exist in all of them.
ALL_VERSIONS: frozenset[str] = MFE_VERSIONS | frozenset(
    {
        "2018-03-01-preview",
        "2018-11-19",
        "2018-12-01",
        "2019-05-01",
        "2019-06-01",
        "2019-11-01",
        "2020-01-01",
        "2020-02-18-preview",
        "2020-03-01",
        "2020-04-01",
        "2020-04-01-preview",
        "2020-05-01-preview",
        "2020-05-15-preview",
        "2020-06-01",
        "2020-08-01",
        "2020-09-01-preview",
        "2021-01-01",
        "2021-04-01",
        "2021-07-01",
        "2022-01-01-preview",
    }
)

# operation family -> (ARM resource type named in errors, versions that serve it)
FAMILIES: dict[str, tuple[str, frozenset[str]]] = {
    "workspaces": ("workspaces", ALL_VERSIONS),
    "computes": ("workspaces/computes", ALL_VERSIONS),
    "jobs": ("workspaces/jobs", MFE_VERSIONS),
    "environments": ("workspaces/environments", MFE_VERSIONS),
    "operations": ("locations/mfeOperationResults", MFE_VERSIONS),
}

_API_VERSION_RE = re.compile(r"^\d{4}-\d{2}-\d{2}(-preview)?$")


def check(family: str, version: str | None, *, location: str) -> str:
    """Return `version` if the family's spec publishes it, else raise the ARM error."""
    resource_type, versions = FAMILIES[family]
    if not version:
        raise ArmError(
            400,
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        )
    supported = ", ".join(sorted(versions, reverse=True))
    if not _API_VERSION_RE.match(version):
        raise ArmError(
            400,
            "InvalidApiVersionParameter",
            f"The api-version '{version}' is invalid. The supported versions are '{supported}'.",
        )
    if version not in versions:
        raise ArmError(
            400,
            "NoRegisteredProviderFound",
            f"No registered resource provider found for location '{location}' and API version "
            f"'{version}' for type '{resource_type}'. The supported api-versions are '{supported}'.",
        )
    return version
