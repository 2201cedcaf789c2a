"""Site properties and app settings that Flex Consumption rejects or ignores.

The table is Microsoft's "Flex Consumption plan deprecations" (Azure Functions app settings
reference), committed as `reference/flex-consumption-deprecations.json` with its source. The
generic Microsoft.Web/sites schema accepts every one of these (they are valid on other plans),
so the schema check cannot catch them: the platform answers, for example, "site configuration
properties (Site.SiteConfig.FtpsState, ...) for Flex Consumption sites is invalid".

A `properties.X` row names a site configuration property; it is checked both on the site's
`properties` and on `properties.siteConfig` (the same names are settable in either place, and on
`Microsoft.Web/sites/config` 'web'). Other rows are app setting names.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

from tests.infra.schema_check import REFERENCE, Problem, is_expression, resource_body

TABLE = REFERENCE / "flex-consumption-deprecations.json"


@dataclass(frozen=True)
class Rules:
    settings: dict[str, str]  # upper-case app setting name -> reason
    site_properties: dict[str, str]  # lower-case property name -> reason
    site_config_only: dict[str, str]  # lower-case siteConfig property name -> reason


@cache
def rules() -> Rules:
    rows = json.loads(TABLE.read_text(encoding="utf-8"))["rows"]
    settings: dict[str, str] = {}
    site: dict[str, str] = {}
    config_only: dict[str, str] = {}
    for row in rows:
        name, reason = row["setting"], row["reason"]
        if name.startswith("properties.siteConfig."):
            config_only[name.removeprefix("properties.siteConfig.").lower()] = reason
        elif name.startswith("properties."):
            site[name.removeprefix("properties.").lower()] = reason
        else:
            settings[name.upper()] = reason
    return Rules(settings, site, config_only)


def _literal_keys(value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or is_expression(value):
        return {}
    return {k.strip("'").lower(): k.strip("'") for k in value}


def _setting_names(app_settings: Any) -> list[str]:
    names: list[str] = []
    if isinstance(app_settings, list):
        for item in app_settings:
            if isinstance(item, dict) and isinstance(item.get("name"), str):
                names.append(item["name"])
    return names


def _is_flex_site(body: dict[str, Any]) -> bool:
    properties = body.get("properties")
    return isinstance(properties, dict) and "functionAppConfig" in properties


def check_document(relative: str, doc: dict[str, Any]) -> Iterator[Problem]:
    table = rules()
    resources = doc.get("resources", {})
    flex_sites = {
        name
        for name, res in resources.items()
        if res["type"].lower() == "microsoft.web/sites" and _is_flex_site(resource_body(res))
    }
    for name, res in resources.items():
        where = f"{relative}:{name}"
        body = resource_body(res)
        kind = res["type"].lower()
        if name in flex_sites:
            properties = body["properties"]
            for key, original in _literal_keys(properties).items():
                if key in table.site_properties:
                    yield Problem(
                        f"{where}.properties.{original}", f"Flex Consumption: {table.site_properties[key]}"
                    )
            site_config = properties.get("siteConfig")
            for key, original in _literal_keys(site_config).items():
                reason = table.site_properties.get(key) or table.site_config_only.get(key)
                if reason:
                    yield Problem(f"{where}.properties.siteConfig.{original}", f"Flex Consumption: {reason}")
            if isinstance(site_config, dict):
                for setting in _setting_names(site_config.get("appSettings")):
                    if setting.upper() in table.settings:
                        yield Problem(
                            f"{where} app setting {setting}",
                            f"Flex Consumption: {table.settings[setting.upper()]}",
                        )
        elif kind == "microsoft.web/sites/config" and body.get("parent") in flex_sites:
            section = body.get("name")
            properties = body.get("properties")
            if section == "appsettings":
                for key, original in _literal_keys(properties).items():
                    if key.upper() in table.settings:
                        yield Problem(
                            f"{where} app setting {original}",
                            f"Flex Consumption: {table.settings[key.upper()]}",
                        )
            elif section == "web":
                for key, original in _literal_keys(properties).items():
                    reason = table.site_properties.get(key) or table.site_config_only.get(key)
                    if reason:
                        yield Problem(f"{where}.properties.{original}", f"Flex Consumption: {reason}")
