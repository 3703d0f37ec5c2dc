"""Case types through the API, on SQLite and PostgreSQL: deploying (YAML, CMMN XML, JSON),
checking a source without deploying it, and reading what is deployed."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker
from tests.api.support import bearer, problem, token_for
from tests.people import make_user

from casework.model.cmmn_export import export_cmmn
from casework.model.yaml_loader import load_yaml
from casework.server.routes_case_types import MAX_SOURCE_BYTES

TYPES = "/api/v1/case-types"
YAML = {"content-type": "application/yaml"}
XML = {"content-type": "application/xml"}
SMALL = """
id: small
name: Small claim
roles:
  - handler
  - name: manager
    description: Approves large claims
case_file:
  amount: {type: number, required: true}
plan:
  items:
    - task: Assess
      role: handler
    - task: Approve
      role: manager
      after: Assess
  discretionary:
    - task: Ask expert
      role: handler
"""
# Four problems, each where it was written: a default of the wrong type, bad FEEL and
# two unknown roles.
BROKEN = """id: t
name: T
roles: [handler]
case_file:
  amount: {type: number, default: abc}
plan:
  items:
    - task: A
      role: nobody
      when: amount >
    - task: B
      role: other
"""


def test_deploy_yaml_again_and_a_new_version(client: TestClient, admin: dict[str, str]) -> None:
    response = client.post(TYPES, content=SMALL, headers={**admin, **YAML})
    assert response.status_code == 201, response.text
    assert response.json() == {
        "items": [{"id": "small", "version": 1, "name": "Small claim", "created": True}]
    }
    assert response.headers["location"] == f"{TYPES}/small?version=1"

    # The same source again: nothing new, and the answer says so.
    again = client.post(TYPES, content=SMALL, headers={**admin, "content-type": "text/yaml"})
    assert again.status_code == 200
    assert again.json()["items"][0] == {
        "id": "small",
        "version": 1,
        "name": "Small claim",
        "created": False,
    }

    changed = SMALL.replace("name: Small claim", "name: Small claims")
    wrapped = client.post(TYPES, json={"source": changed, "format": "yaml"}, headers=admin)
    assert wrapped.status_code == 201
    assert wrapped.json()["items"][0]["version"] == 2


def test_deploy_cmmn_xml_with_a_dialect(client: TestClient, admin: dict[str, str]) -> None:
    xml = export_cmmn([load_yaml(SMALL)])
    response = client.post(
        TYPES, content=xml.encode(), params={"dialect": "casework"}, headers={**admin, **XML}
    )
    assert response.status_code == 201, response.text
    assert response.json()["items"][0]["id"] == "small"
    detail = client.get(f"{TYPES}/small", headers=admin).json()
    assert detail["format"] == "cmmn" and detail["dialect"] == "casework"
    assert detail["source"].startswith("<?xml")

    bad_dialect = client.post(
        TYPES, content=xml.encode(), params={"dialect": "activiti"}, headers={**admin, **XML}
    )
    body = problem(bad_dialect, 422, "validation")
    assert body["errors"][0]["field"] == "dialect"
    assert body["errors"][0]["location"] == "query"


def test_only_deployers_deploy(
    client: TestClient, admin: dict[str, str], ann: dict[str, str], db: sessionmaker[Session]
) -> None:
    problem(client.post(TYPES, content=SMALL, headers=YAML), 401, "unauthenticated")
    body = problem(client.post(TYPES, content=SMALL, headers={**ann, **YAML}), 403, "forbidden")
    assert "case_type_admin" in body["detail"]
    # Even a broken source: who may deploy is answered first.
    problem(client.post(TYPES, content=BROKEN, headers={**ann, **YAML}), 403, "forbidden")

    make_user(db, "dora", roles=("case_type_admin",))
    dora = bearer(token_for(db, "dora"))
    response = client.post(TYPES, content=SMALL, headers={**dora, **YAML})
    assert response.status_code == 201
    assert client.get(f"{TYPES}/small/versions", headers=ann).json()["items"][0]["deployed_by"] == (
        "dora"
    )


def test_a_source_that_does_not_load_lists_every_problem(
    client: TestClient, admin: dict[str, str]
) -> None:
    body = problem(client.post(TYPES, content=BROKEN, headers={**admin, **YAML}), 422, "validation")
    assert [(p["line"], p["column"]) for p in body["problems"]] == [
        (5, 35),
        (10, 21),
        (9, 13),
        (12, 13),
    ]
    assert "unknown role 'nobody'" in body["problems"][2]["message"]
    assert body["errors"] == [{"field": "source", "location": "body", "detail": body["detail"]}]
    assert body["detail"].startswith("line 5: default 'abc'") and "(and 3 more)" in body["detail"]

    wrapped = problem(client.post(TYPES, json={"source": BROKEN}, headers=admin), 422, "validation")
    assert wrapped["errors"][0]["pointer"] == "#/source"
    assert len(wrapped["problems"]) == 4

    missing = problem(client.post(TYPES, json={"format": "yaml"}, headers=admin), 422, "validation")
    assert [(e["field"], e["pointer"]) for e in missing["errors"]] == [("source", "#/source")]
    not_json = problem(
        client.post(TYPES, content=b"{nope", headers={**admin, "content-type": "application/json"}),
        422,
        "validation",
    )
    assert "not valid JSON" in not_json["detail"]
    problem(
        client.post(TYPES, content=SMALL, headers={**admin, "content-type": "text/plain"}),
        415,
        "unsupported-media-type",
    )
    latin = problem(
        client.post(TYPES, content="name: Café".encode("latin-1"), headers={**admin, **YAML}),
        422,
        "validation",
    )
    assert latin["errors"][0]["field"] == "source"
    problem(client.get(f"{TYPES}/t", headers=admin), 404, "not-found")


def test_validate_without_deploying(client: TestClient, ann: dict[str, str]) -> None:
    problem(client.post(f"{TYPES}/validate", content=SMALL, headers=YAML), 401, "unauthenticated")
    good = client.post(f"{TYPES}/validate", content=SMALL, headers={**ann, **YAML})
    assert good.status_code == 200
    assert good.json() == {
        "valid": True,
        "problems": [],
        "case_types": [{"id": "small", "name": "Small claim"}],
    }
    bad = client.post(f"{TYPES}/validate", json={"source": BROKEN}, headers=ann).json()
    assert bad["valid"] is False and bad["case_types"] == []
    assert bad["problems"][1] == {
        "message": "invalid FEEL 'amount >': expected an expression but found end of input",
        "line": 10,
        "column": 21,
    }
    xml = client.post(
        f"{TYPES}/validate", content="<definitions><case", headers={**ann, **XML}
    ).json()
    assert xml["valid"] is False and xml["problems"][0]["line"] == 1
    assert xml["problems"][0]["message"].startswith("malformed XML")
    problem(client.get(f"{TYPES}/small", headers=ann), 404, "not-found")


def test_list_and_read_case_types(
    client: TestClient, admin: dict[str, str], ann: dict[str, str]
) -> None:
    client.post(TYPES, content=SMALL, headers={**admin, **YAML})
    client.post(
        TYPES, content=SMALL.replace("Small claim", "Small claims"), headers={**admin, **YAML}
    )
    problem(client.get(TYPES), 401, "unauthenticated")

    [listed] = client.get(TYPES, headers=ann).json()["items"]
    assert listed["id"] == "small" and listed["version"] == 2 and listed["name"] == "Small claims"
    assert listed["roles"] == [
        {"name": "handler", "description": None},
        {"name": "manager", "description": "Approves large claims"},
    ]
    schema = listed["case_file_schema"]
    assert schema["properties"] == {"amount": {"type": "number"}}
    assert schema["required"] == ["amount"]

    detail = client.get(f"{TYPES}/small", headers=ann).json()
    assert detail["version"] == 2 and detail["source"] is None  # not a deployer
    plan = detail["plan"]
    assert plan["kind"] == "stage"
    assert [(i["name"], i["kind"], i["role"], i["discretionary"]) for i in plan["children"]] == [
        ("Assess", "human_task", "handler", False),
        ("Approve", "human_task", "manager", False),
        ("Ask expert", "human_task", "handler", True),
    ]
    first = client.get(f"{TYPES}/small", params={"version": 1}, headers=admin).json()
    assert first["name"] == "Small claim" and first["source"] == SMALL

    versions = client.get(f"{TYPES}/small/versions", headers=ann).json()["items"]
    assert [(v["version"], v["name"], v["format"], v["deployed_by"]) for v in versions] == [
        (1, "Small claim", "yaml", "root"),
        (2, "Small claims", "yaml", "root"),
    ]
    problem(client.get(f"{TYPES}/small", params={"version": 3}, headers=ann), 404, "not-found")
    problem(client.get(f"{TYPES}/nope/versions", headers=ann), 404, "not-found")
    body = problem(
        client.get(f"{TYPES}/small", params={"version": 0}, headers=ann), 422, "validation"
    )
    assert body["errors"][0]["location"] == "query"


def test_a_source_has_a_size_limit(client: TestClient, admin: dict[str, str]) -> None:
    huge = b"#" * (MAX_SOURCE_BYTES + 1)
    problem(client.post(TYPES, content=huge, headers={**admin, **YAML}), 413, "too-large")
