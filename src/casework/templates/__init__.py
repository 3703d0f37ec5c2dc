"""Built-in case types, shipped as YAML package data so `casework` works out of the box."""

from __future__ import annotations

from importlib import resources

from casework.model.definitions import CaseDefinition
from casework.model.errors import ModelError

_SUFFIX = ".yaml"


def list_templates() -> list[str]:
    """The names of the built-in case types, sorted: `insurance_claim`, `patient_care`, ..."""
    root = resources.files(__name__)
    return sorted(
        entry.name.removesuffix(_SUFFIX)
        for entry in root.iterdir()
        if entry.is_file() and entry.name.endswith(_SUFFIX)
    )


def template_text(name: str) -> str:
    """The YAML source of a built-in case type, for people who want to start from it."""
    if name not in list_templates():
        raise ModelError(
            f"no built-in case type '{name}'; expected one of: {', '.join(list_templates())}"
        )
    return (resources.files(__name__) / f"{name}{_SUFFIX}").read_text(encoding="utf-8")


def load_template(name: str) -> CaseDefinition:
    """A built-in case type, loaded and validated."""
    from casework.model.yaml_loader import load_yaml

    return load_yaml(template_text(name), source=f"{name}{_SUFFIX}")
