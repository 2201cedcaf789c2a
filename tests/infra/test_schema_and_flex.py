"""Every Bicep resource against Azure's schemas and Microsoft's Flex Consumption deprecations table.

Sources: tests/infra/reference/README.md (azure-rest-api-specs / bicep-types-az files and commits;
the deprecations table of the Azure Functions app settings reference).
"""

from __future__ import annotations

import json
import textwrap

import pytest
from pycep import BicepParser

from tests.infra import flex_rules
from tests.infra import schema_check as sc
from tests.infra import sources as src


def _rel(path) -> str:
    return str(path.relative_to(src.INFRA))


def _parse_text(text: str) -> dict:
    return BicepParser().parse(text=textwrap.dedent(text))


@pytest.mark.parametrize("path", src.bicep_files(), ids=_rel)
def test_every_resource_matches_its_api_version_schema(path):
    problems = [str(p) for p in sc.check_document(_rel(path), src.parse(path))]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", src.bicep_files(), ids=_rel)
def test_nothing_flex_consumption_rejects(path):
    problems = [str(p) for p in flex_rules.check_document(_rel(path), src.parse(path))]
    assert not problems, "\n".join(problems)


def test_every_fragment_names_its_source():
    for path in sorted(sc.SCHEMAS.glob("*.json")):
        doc = json.loads(path.read_text())
        files = doc["source"]["files"]
        for entry in doc["resources"].values():
            source = files[entry["file"]]
            assert source["path"] and len(source["commit"]) == 40, path.name
    readme = (sc.REFERENCE / "README.md").read_text()
    for path in sorted(sc.SCHEMAS.glob("*.json")):
        assert path.name in readme, f"{path.name} is not listed in reference/README.md"
    table = json.loads(flex_rules.TABLE.read_text())
    assert len(table["source"]["commit"]) == 40 and table["rows"]


# --- the checks can fail: synthetic Bicep, one mistake each ----------------------------------

SITE = """
resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: 'x'
  location: 'westeurope'
  kind: 'functionapp,linux'
  properties: {
    serverFarmId: 'plan'
    siteConfig: {
      %s
    }
    functionAppConfig: {
      runtime: { name: 'python', version: '3.11' }
    }
  }
}
"""


def _schema_problems(text: str) -> list[str]:
    return [str(p) for p in sc.check_document("t.bicep", _parse_text(text))]


def _flex_problems(text: str) -> list[str]:
    return [str(p) for p in flex_rules.check_document("t.bicep", _parse_text(text))]


def test_schema_check_catches_a_misspelt_property():
    problems = _schema_problems(SITE % "minTlsVersio: '1.2'")
    assert problems == [
        "t.bicep:site.properties.siteConfig.minTlsVersio: is not a property of this API version's schema"
    ]


def test_schema_check_catches_a_wrong_case_and_a_read_only_property():
    problems = _schema_problems(SITE % "MinTlsVersion: '1.2'\n      machineKey: {}")
    assert any("spells it 'minTlsVersion'" in p for p in problems), problems
    assert any("machineKey: is read-only" in p for p in problems), problems


def test_schema_check_catches_an_api_version_that_is_not_described():
    text = (SITE % "http20Enabled: true").replace("2024-04-01", "2024-04-31")
    problems = _schema_problems(text)
    assert len(problems) == 1 and "Microsoft.Web/sites@2024-04-31 is not in" in problems[0]


def test_schema_check_follows_the_event_grid_destination_discriminator():
    text = """
    resource topic 'Microsoft.EventGrid/systemTopics@2022-06-15' existing = {
      name: 't'
    }
    resource sub 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2022-06-15' = {
      parent: topic
      name: 's'
      properties: {
        destination: {
          endpointType: 'AzureFunction'
          properties: {
            resourceId: 'x'
            maxEventsPerBach: 1
          }
        }
      }
    }
    """
    problems = _schema_problems(text)
    assert problems == [
        "t.bicep:sub.properties.destination.properties.maxEventsPerBach: is not a property of this API version's schema"
    ]


def test_schema_check_refuses_to_pass_what_a_fragment_does_not_describe():
    problems = _schema_problems(SITE % "cors: { allowedOrigins: [ '*' ] }")
    assert any("leaves this object opaque" in p for p in problems), problems


def test_flex_rules_catch_ftps_state_and_rejected_app_settings():
    # Finding 1 of issue 16: siteConfig.ftpsState on a Flex Consumption site.
    problems = _flex_problems(SITE % "ftpsState: 'Disabled'")
    assert problems == ["t.bicep:site.properties.siteConfig.ftpsState: Flex Consumption: FTPS not supported"]
    settings = "appSettings: [\n        { name: 'FUNCTIONS_WORKER_RUNTIME', value: 'python' }\n      ]"
    problems = _flex_problems(SITE % settings)
    assert problems and "FUNCTIONS_WORKER_RUNTIME" in problems[0]
    renamed = _flex_problems(SITE % "preWarmedInstanceCount: 1")
    assert renamed and "alwaysReadyInstances" in renamed[0]


def test_flex_rules_leave_other_plans_alone():
    text = (SITE % "ftpsState: 'Disabled'").replace(
        "functionAppConfig: {\n      runtime: { name: 'python', version: '3.11' }\n    }", ""
    )
    assert "functionAppConfig" not in text
    assert _flex_problems(text) == []


def test_ftp_stays_off_through_the_publishing_credentials_policy():
    # ftpsState is not allowed on Flex (above); FTP and basic-auth SCM are off through these instead.
    doc = src.bicep("app/function.bicep")
    policies = src.resources_of_type(doc, "Microsoft.Web/sites/basicPublishingCredentialsPolicies")
    assert {src.body(p)["name"]: src.body(p)["properties"]["allow"] for p in policies.values()} == {
        "ftp": False,
        "scm": False,
    }
