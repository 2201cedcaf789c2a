from __future__ import annotations

from typing import Any

from polysync.templates import describe_template, infer_search_space_type


def test_describe_template(template: dict[str, Any]) -> None:
    d = describe_template(template)
    assert d["externalId"] == "train-sweep-template"
    assert d["jobType"] == "AI Foundry Sweep Job"
    assert d["description"].startswith("Hyperparameter sweep")
    assert d["attributes"] == {
        "AI Foundry Compute Name": "cpu-cluster",
        "AI Foundry Environment Name": "sklearn-env:7",
        "AI Foundry Command": template["properties"]["trial"]["command"],
        "AI Foundry Objective Metric": "accuracy",
        "AI Foundry Objective Goal": "Maximize",
        "AI Foundry Max Total Trials": 20,
        "AI Foundry Max Concurrent Trials": 4,
        "AI Foundry Sampling Algorithm": "Random",
    }
    params = {p["name"]: p for p in d["parameters"]}
    assert params["learning_rate"] == {"name": "learning_rate", "dataType": "Float", "direction": "Input"}
    assert params["batch_size"] == {
        "name": "batch_size",
        "dataType": "Int",
        "direction": "Input",
        "defaultValue": 16,
    }
    assert params["optimizer"]["dataType"] == "String"
    assert params["model"] == {"name": "model", "direction": "Output", "dataType": "String"}


def test_infer_types() -> None:
    assert infer_search_space_type(["choice", [[1, 2.5]]]) == ("Float", 1)
    assert infer_search_space_type(["choice", [[True, False]]]) == ("Bool", True)
    assert infer_search_space_type(["choice", [["a", 1]]]) == ("JSON", "a")
    assert infer_search_space_type(["randint", [10]]) == ("Int", None)
    assert infer_search_space_type(["quniform", [1, 100, 5]]) == ("Int", None)
    assert infer_search_space_type(["qnormal", [0, 1.5, 0.5]]) == ("Float", None)
    assert infer_search_space_type(["normal", [0, 1]]) == ("Float", None)
    assert infer_search_space_type("junk") == ("JSON", None)


def test_describe_minimal_job() -> None:
    d = describe_template({"name": "x", "properties": {"jobType": "Sweep"}})
    assert d == {
        "externalId": "x",
        "displayName": "x",
        "description": None,
        "jobType": "AI Foundry Sweep Job",
        "attributes": {},
        "parameters": [],
    }


def test_a_template_with_an_unknown_search_space_type_is_still_described() -> None:
    """GET /api/templates lists it (the entry as a JSON parameter) instead of answering 500."""
    job = {
        "name": "odd",
        "properties": {
            "jobType": "Sweep",
            "searchSpace": {
                "x": {"type": "gaussian", "mu": 0},
                "lr": {"type": "lognormal", "mu": 0, "sigma": 1},
            },
        },
    }
    params = {p["name"]: p for p in describe_template(job)["parameters"]}
    assert params["x"] == {"name": "x", "dataType": "JSON", "direction": "Input"}
    assert params["lr"] == {"name": "lr", "dataType": "Float", "direction": "Input"}
