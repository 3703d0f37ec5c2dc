"""DMN models that import one another: loading them together and finding what an
``<import>`` names.

An import names its model by namespace (DMN 1.5 section 6.3.3). :class:`ModelSet` holds the
models that may be imported, keyed by namespace; when no loaded model (or more than one)
has the namespace, the import's ``locationURI`` is tried, relative to the importing file,
as DMN TCK folders need (their imports reuse one namespace for several files).

The caller gives an imported model's input data in one of three spellings, tried in this
order: a context named after the import (``{"myimport": {"Person": ...}}``, nested for
nested imports), the qualified name (``{"myimport.Person": ...}``), or the model's
namespace in braces (``{"{http://example.com/people}Person": ...}``), which gives one value
to that input data wherever the model is imported, as the TCK's ``<inputNode namespace>``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self, TypeGuard
from urllib.parse import unquote, urlparse

from .errors import DmnError
from .model import Definitions, Import, InputData
from .xml_import import dmn_version, parse_definitions

if TYPE_CHECKING:
    from .evaluate import CompiledModel
    from .types import TypeRegistry

__all__ = ["ImportScope", "ModelSet", "find_input", "is_model_import", "load_models", "split_ref"]


def is_model_import(element: Import) -> bool:
    """Whether an ``<import>`` names a DMN model (not an XML Schema or a PMML file)."""
    return element.import_type is None or dmn_version(element.import_type) is not None


def split_ref(ref: str) -> tuple[str | None, str]:
    """``namespace#id`` as (namespace, id); a local id as (None, id)."""
    namespace, hash_, element = ref.rpartition("#")
    return (namespace or None) if hash_ else None, element


class ModelSet:
    """DMN models that may import one another, each with the file it came from (if any)."""

    def __init__(self, models: Iterable[Definitions] = ()) -> None:
        self._models: list[Definitions] = []
        self._paths: dict[int, Path] = {}  # id(definitions) -> resolved file
        for definitions in models:
            self.add(definitions)

    def __iter__(self) -> Iterator[Definitions]:
        return iter(self._models)

    def __len__(self) -> int:
        return len(self._models)

    def __repr__(self) -> str:
        return f"<ModelSet {', '.join(repr(m.name) for m in self._models)}>"

    def add(self, definitions: Definitions, path: str | os.PathLike[str] | None = None) -> None:
        """Add a model; ``path``, its file, lets imports find it by ``locationURI``."""
        if any(m is definitions for m in self._models):
            return
        self._models.append(definitions)
        if path is not None:
            self._paths[id(definitions)] = Path(path).resolve()

    def load(self, source: bytes | str | os.PathLike[str]) -> Definitions:
        """Parse and add one model (XML bytes or text, or a ``.dmn`` file) and return it.
        A file already in the set is not read again."""
        if isinstance(source, bytes) or _is_xml(source):
            definitions = parse_definitions(source)
            self.add(definitions)
            return definitions
        path = Path(source)
        existing = self.at(path)
        if existing is not None:
            return existing
        definitions = parse_definitions(path.read_bytes(), str(path))
        self.add(definitions, path)
        return definitions

    def load_folder(self, folder: str | os.PathLike[str]) -> list[Definitions]:
        """Add every ``.dmn`` file under ``folder`` (subfolders included)."""
        return [self.load(p) for p in sorted(Path(folder).rglob("*.dmn")) if p.is_file()]

    def at(self, path: str | os.PathLike[str]) -> Definitions | None:
        """The model loaded from this file, if any."""
        wanted = Path(path).resolve()
        return next((m for m in self._models if self._paths.get(id(m)) == wanted), None)

    def get(self, namespace_or_name: str) -> Definitions | None:
        """The model with this namespace, or else the first with this name."""
        found = next((m for m in self._models if m.namespace == namespace_or_name), None)
        return found or next((m for m in self._models if m.name == namespace_or_name), None)

    def resolve(self, importer: Definitions, element: Import) -> Definitions:
        """The model an ``<import>`` of ``importer`` names; DmnError when there is none, or
        several that its locationURI cannot tell apart."""
        candidates = [m for m in self._models if m.namespace == element.namespace]
        if len(candidates) == 1:
            return candidates[0]
        located = self._located(importer, element.location_uri)
        if located is not None:
            return located
        label = f"import {element.name!r}" if element.name else "unnamed import"
        where = f"model {importer.name!r}"
        location = f", locationURI {element.location_uri!r}" if element.location_uri else ""
        if candidates:
            names = ", ".join(repr(m.name) for m in candidates)
            raise DmnError(
                f"{label} (namespace {element.namespace!r}{location}) is ambiguous: "
                f"{len(candidates)} loaded models have that namespace ({names})",
                where,
            )
        count = len(self._models)
        raise DmnError(
            f"{label} (namespace {element.namespace!r}{location}): no model with that "
            f"namespace was given ({count} model{'' if count == 1 else 's'} loaded)",
            where,
        )

    def _located(self, importer: Definitions, location: str | None) -> Definitions | None:
        if not location:
            return None
        parsed = urlparse(location)
        if parsed.scheme not in ("", "file"):
            return None  # a remote location: never fetched
        relative = Path(unquote(parsed.path))
        base = self._paths.get(id(importer))
        if base is not None:
            return self.at(base.parent / relative)
        # A model given as bytes has no folder: match the file by its trailing path.
        tail = relative.parts
        found = [
            m for m in self._models if self._paths.get(id(m), Path()).parts[-len(tail) :] == tail
        ]
        return found[0] if len(found) == 1 else None


def load_models(*sources: bytes | str | os.PathLike[str]) -> ModelSet:
    """Models that may import one another, from XML bytes or text, ``.dmn`` files and
    folders (every ``.dmn`` file under them). Raises DmnError for a broken model."""
    models = ModelSet()
    for source in sources:
        if isinstance(source, os.PathLike | str) and not _is_xml(source) and Path(source).is_dir():
            models.load_folder(source)
        else:
            models.load(source)
    return models


def _is_xml(source: object) -> TypeGuard[str]:
    return isinstance(source, str) and source.lstrip().startswith("<")


class ImportScope:
    """A model with the models it imports, as one evaluation sees them.

    Each import is an instance of its own (a model imported twice has two, with their own
    input data). A named import's elements are ``name.element`` here; an unnamed import
    joins this model's *group*: the model and its unnamed imports, depth first, share one
    namespace, where the importing model's elements come first (as DMN TCK 1158 asks,
    even for references made inside the imported model).
    """

    def __init__(
        self,
        definitions: Definitions,
        models: ModelSet | None = None,
        parent: Self | None = None,
        import_name: str = "",
    ) -> None:
        self.definitions = definitions
        self.parent = parent
        # A group is led by the model evaluated or by a named import.
        self.group: Self = self if parent is None or import_name else parent.group
        self.prefix: tuple[str, ...] = () if parent is None else parent.prefix
        if import_name:
            self.prefix += (import_name,)
        self.members: list[Self] = []  # a group leader's: itself, then the unnamed imports
        self.group.members.append(self)
        self.imports: list[tuple[str, Import, Self]] = []  # the named ones
        self.unnamed: list[Self] = []
        # Named imports reachable from here: this model's own, then its group's.
        self.visible: list[tuple[str, Import, Self]] = []
        self._group_names: frozenset[str] | None = None
        self._attach_imports(models)

    def _attach_imports(self: Self, models: ModelSet | None) -> None:
        where = f"model {self.definitions.name!r}"
        named: dict[str, Import] = {}
        for element in self.definitions.imports:
            if not is_model_import(element):
                continue  # XML Schema and PMML imports describe nothing FEEL can use
            target = (models or ModelSet()).resolve(self.definitions, element)
            if not element.name:
                if any(m.definitions is target for m in self.group.members):
                    continue  # already in this namespace: a model importing itself, a loop
                self._check_cycle(target, element, where)
                self.unnamed.append(self._imported(target, models, ""))
                continue
            if element.name in named:
                raise DmnError(
                    f"two imports are named {element.name!r} (namespaces "
                    f"{named[element.name].namespace!r} and {element.namespace!r})",
                    where,
                )
            clash = self._element_kind(element.name)
            if clash is not None:
                raise DmnError(
                    f"import {element.name!r} (namespace {element.namespace!r}) has the name "
                    f"of a {clash} of this model: {element.name}.x would be ambiguous",
                    where,
                )
            named[element.name] = element
            self._check_cycle(target, element, where)
            self.imports.append(
                (element.name, element, self._imported(target, models, element.name))
            )

    def _element_kind(self, name: str) -> str | None:
        d = self.definitions
        for kind, group in (
            ("decision", d.decisions),
            ("input data", d.input_data),
            ("business knowledge model", d.knowledge_models),
            ("decision service", d.decision_services),
        ):
            if any(e.name == name for e in group):
                return kind
        return None

    def _imported(self, target: Definitions, models: ModelSet | None, name: str) -> Self:
        return type(self)(target, models, self, name)

    def _check_cycle(self, target: Definitions, element: Import, where: str) -> None:
        chain: list[Definitions] = [target]
        model: ImportScope | None = self
        while model is not None:
            chain.insert(0, model.definitions)
            if model.definitions is target:
                label = f"import {element.name!r}" if element.name else "an unnamed import"
                raise DmnError(
                    f"import cycle: {' -> '.join(repr(d.name) for d in chain)} "
                    f"({label}, namespace {element.namespace!r})",
                    where,
                )
            model = model.parent

    def _link(self: Self) -> None:
        """Once the whole import tree is built: the named imports visible from here."""
        for member in [self, *[m for m in self.group.members if m is not self]]:
            for entry in member.imports:
                if all(entry[0] != name for name, _, _ in self.visible):
                    self.visible.append(entry)

    def instances(self) -> Iterator[Self]:
        """This model and every model it imports, directly or not, depth first."""
        yield self
        for child in (*self.unnamed, *(c for _, _, c in self.imports)):
            yield from child.instances()

    def group_names(self) -> frozenset[str]:
        """Every name FEEL may meet in this group (call on its leader): its elements', its
        import names and the names in the models imported by name."""
        if self._group_names is None:
            names: set[str] = set()
            for member in self.members:
                names |= member.definitions.names()
                for name, _, child in member.imports:
                    names.add(name)
                    names |= child.group_names()
            self._group_names = frozenset(names)
        return self._group_names

    def input_data(self, name: str) -> InputData | None:
        return next((i for i in self.definitions.input_data if i.name == name), None)

    def element(self, element_id: str) -> tuple[Self, object] | None:
        """The element with this id in this group (call on its leader), and its model."""
        for member in self.members:
            found = member.definitions.element(element_id)
            if found is not None:
                return member, found
        return None

    def locate(self, ref: str) -> list[tuple[Self, object, str | None]]:
        """The elements an href names, with the model each belongs to and the import name
        that qualifies it here (None in this model's namespace). Only a model imported
        under several names gives more than one."""
        namespace, element_id = split_ref(ref)
        if namespace is not None:
            found_all: list[tuple[Self, object, str | None]] = []
            for name, element, child in self.visible:
                if namespace in (element.namespace, child.definitions.namespace):
                    found = child.element(element_id)
                    if found is not None:
                        found_all.append((found[0], found[1], name))
            if found_all:
                return found_all
        # Local ids resolve in the whole group, the importing model first; so does a
        # namespace that no import declares, as before imports were supported.
        found = self.group.element(element_id)
        return [] if found is None else [(found[0], found[1], None)]


def find_input(
    inputs: Mapping[str, Any], prefix: tuple[str, ...], name: str, namespace: str
) -> tuple[bool, Any]:
    """(found, value) of the input data ``name`` of the model imported at ``prefix`` (the
    import names from the evaluated model), in the spellings of the module docstring."""
    node: Any = inputs
    for part in prefix:
        node = node.get(part) if isinstance(node, Mapping) else None
    if isinstance(node, Mapping) and name in node:
        return True, node[name]
    if prefix:
        dotted = ".".join((*prefix, name))
        if dotted in inputs:
            return True, inputs[dotted]
    keyed = f"{{{namespace}}}{name}"
    if namespace and keyed in inputs:
        return True, inputs[keyed]
    return False, None


def declared_input(model: CompiledModel, key: str) -> tuple[str | None, TypeRegistry] | None:
    """The typeRef (and the registry that reads it) of the input data a caller's key names:
    ``name``, ``import.name`` or ``{namespace}name``; None for an unknown key."""
    if key.startswith("{") and "}" in key:
        namespace, _, name = key[1:].partition("}")
        for instance in model.instances():
            found = instance.input_data(name)
            if found is not None and instance.definitions.namespace == namespace:
                return found.type_ref, instance.types
        return None
    for member in model.group.members:
        found = member.input_data(key)
        if found is not None:
            return found.type_ref, member.types
    for name, _, child in model.visible:
        if key.startswith(name + "."):
            return declared_input(child, key[len(name) + 1 :])
    return None


def typed_inputs(
    model: CompiledModel,
    values: Mapping[str, Any],
    read: Callable[[Any, str | None, TypeRegistry], Any],
) -> dict[str, Any]:
    """The caller's ``values``, each read by ``read(value, typeRef, types)`` as the input
    data it gives is declared (the imported models' in any spelling; typeRef None for a
    value that gives none)."""
    out: dict[str, Any] = {}
    imported = {name: child for name, _, child in model.visible}
    for key, value in values.items():
        declared = declared_input(model, key)
        if declared is None and key in imported and isinstance(value, Mapping):
            out[key] = typed_inputs(imported[key], value, read)
        else:
            out[key] = read(value, *(declared or (None, model.types)))
    return out
