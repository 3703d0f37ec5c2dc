"""DMN ``<import>``: models that use the decisions, BKMs, types and input data of others."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest

from casework.dmn import (
    CompiledModel,
    DmnError,
    Import,
    ModelSet,
    compile_decision,
    compile_model,
    evaluate_decision,
    load_definitions,
    load_models,
)
from casework.dmn.evaluate import ServiceFunction

DMN = "https://www.omg.org/spec/DMN/20230324/MODEL/"
DMN_12 = "http://www.omg.org/spec/DMN/20180521/MODEL/"


def model(namespace: str, body: str, name: str = "", version: str = DMN) -> str:
    return (
        f'<definitions xmlns="{version}" name="{name or namespace}" '
        f'namespace="{namespace}">{body}</definitions>'
    )


def imports(namespace: str, name: str, location: str = "", version: str = DMN) -> str:
    where = f' locationURI="{location}"' if location else ""
    return f'<import namespace="{namespace}" name="{name}" importType="{version}"{where}/>'


def decision(name: str, text: str, requires: str = "", type_ref: str = "", id_: str = "") -> str:
    typed = f' typeRef="{type_ref}"' if type_ref else ""
    return (
        f'<decision id="{id_ or name}" name="{name}"><variable name="{name}"{typed}/>'
        f"{requires}<literalExpression><text>{text}</text></literalExpression></decision>"
    )


def needs(href: str, kind: str = "requiredDecision") -> str:
    wrapper = "knowledgeRequirement" if kind == "requiredKnowledge" else "informationRequirement"
    return f'<{wrapper}><{kind} href="{href}"/></{wrapper}>'


def input_data(name: str, type_ref: str = "", id_: str = "") -> str:
    typed = f' typeRef="{type_ref}"' if type_ref else ""
    return (
        f'<inputData id="{id_ or name}" name="{name}"><variable name="{name}"{typed}/></inputData>'
    )


# A library of people: a type, an input, a decision, a BKM and a decision service.
PEOPLE = model(
    "urn:people",
    """
  <itemDefinition name="tPerson">
    <itemComponent name="name"><typeRef>string</typeRef></itemComponent>
    <itemComponent name="age"><typeRef>number</typeRef></itemComponent>
  </itemDefinition>
  <itemDefinition name="tNames" isCollection="true"><typeRef>string</typeRef></itemDefinition>
  <businessKnowledgeModel id="greet" name="say hello">
    <variable name="say hello"/>
    <encapsulatedLogic>
      <formalParameter name="person" typeRef="tPerson"/>
      <literalExpression typeRef="string"><text>"Hello " + person.name</text></literalExpression>
    </encapsulatedLogic>
  </businessKnowledgeModel>"""
    + input_data("Visitor", "tPerson")
    + decision("Greeting", "say hello(Visitor)", needs("#greet", "requiredKnowledge"), "string")
    + decision("Adult", "Visitor.age >= 18", needs("#Visitor", "requiredInput"), "boolean")
    + """
  <decisionService id="check" name="check visitor">
    <variable name="check visitor"/>
    <outputDecision href="#Adult"/><inputData href="#Visitor"/>
  </decisionService>""",
    name="People",
)


def people_and(main: str, *others: str) -> tuple[CompiledModel, ModelSet]:
    models = load_models(PEOPLE, *others)
    definitions = models.load(main)
    return compile_model(definitions, models), models


ANN = {"name": "Ann", "age": 40}


def test_a_named_import_gives_decisions_bkms_and_types_under_its_name() -> None:
    main = model(
        "urn:main",
        imports("urn:people", "people")
        + input_data("Guest", "people.tPerson")
        + decision("Welcome", 'people.Greeting + "!"', needs("urn:people#Greeting"))
        + decision(
            "Direct",
            "people.say hello(Guest)",
            needs("urn:people#greet", "requiredKnowledge") + needs("#Guest", "requiredInput"),
            "string",
        )
        + decision("Is person", "Guest instance of people.tPerson")
        + decision("Names", '"Ann"', type_ref="people.tNames"),
    )
    compiled, _ = people_and(main)
    inputs = {"Guest": {"name": "Bob", "age": 3}, "people": {"Visitor": ANN}}
    assert compiled.decision("Welcome").evaluate(inputs).value == "Hello Ann!"
    assert compiled.decision("Direct").evaluate(inputs).value == "Hello Bob"
    assert compiled.decision("Is person").evaluate(inputs).value is True
    assert compiled.decision("Names").evaluate({}).value == ["Ann"]  # a list type: wrapped
    result = compiled.decision("Direct").evaluate({"Guest": {"name": "Bob"}})
    assert result.value is None  # not a people.tPerson: no age
    assert "does not conform to type 'tPerson'" in result.warnings[0]


def test_imported_input_data_in_each_spelling() -> None:
    main = model(
        "urn:main",
        imports("urn:people", "people")
        + decision("Adult guest", "people.Adult", needs("urn:people#Adult")),
    )
    compiled, _ = people_and(main)
    adult = compiled.decision("Adult guest")
    assert adult.evaluate({"people": {"Visitor": ANN}}).value is True
    assert adult.evaluate({"people.Visitor": {"name": "Cy", "age": 9}}).value is False
    assert adult.evaluate({"{urn:people}Visitor": ANN}).value is True
    assert adult.evaluate({}).value is None
    typed = adult.evaluate({"people": {"Visitor": "Ann"}})
    assert typed.value is None  # the imported model checks its own input data's type
    assert "input 'Visitor'" in typed.all_warnings()[0]


def test_a_model_imported_twice_has_its_own_input_data_each_time() -> None:
    main = model(
        "urn:main",
        imports("urn:people", "host")
        + imports("urn:people", "guest")
        + decision(
            "Both",
            'host.Greeting + " / " + guest.Greeting',
            needs("urn:people#Greeting"),  # the namespace names both imports: each required
        ),
    )
    both = people_and(main)[0].decision("Both")
    per_import = {"host": {"Visitor": ANN}, "guest": {"Visitor": {"name": "Bo", "age": 1}}}
    assert both.evaluate(per_import).value == "Hello Ann / Hello Bo"
    assert both.evaluate({"{urn:people}Visitor": ANN}).value == "Hello Ann / Hello Ann"


def test_an_unnamed_import_brings_its_elements_in_unprefixed() -> None:
    main = model(
        "urn:main",
        imports("urn:people", "")
        + decision("Welcome", 'Greeting + "!"', needs("#Greeting"))
        + decision("Typed", "Visitor", needs("#Visitor", "requiredInput"), "tPerson"),
    )
    compiled, _ = people_and(main)
    assert compiled.decision("Welcome").evaluate({"Visitor": ANN}).value == "Hello Ann!"
    assert compiled.decision("Typed").evaluate({"Visitor": 5}).value is None
    # The imported decisions are the model's own now.
    assert compiled.decision("Greeting").evaluate({"Visitor": ANN}).value == "Hello Ann"


def test_the_importing_model_wins_a_name_or_id_clash_with_an_unnamed_import() -> None:
    library = model(
        "urn:lib",
        decision("Base", '"library"')
        + decision("Uses base", "Base", needs("#Base"))
        + decision("Only here", '"only in the library"'),
    )
    main = model(
        "urn:main",
        imports("urn:lib", "")
        + decision("Base", '"main"')
        + decision(
            "Result", 'Uses base + ", " + Only here', needs("#Uses base") + needs("#Only here")
        ),
    )
    models = load_models(library)
    compiled = compile_model(models.load(main), models)
    # Even the library's own reference to #Base finds the importing model's decision.
    assert compiled.decision("Result").evaluate({}).value == "main, only in the library"


def test_nested_imports_named_and_unnamed() -> None:
    c = model(
        "urn:c",
        input_data("x", "number") + decision("Triple", "x * 3", needs("#x", "requiredInput")),
    )
    b = model(
        "urn:b",
        imports("urn:c", "c")
        + decision("Plus one", "c.Triple + 1", needs("urn:c#Triple"))
        + '<businessKnowledgeModel id="half" name="half"><encapsulatedLogic>'
        '<formalParameter name="n"/><literalExpression><text>n / 2</text>'
        "</literalExpression></encapsulatedLogic></businessKnowledgeModel>",
    )
    a = model(
        "urn:a",
        imports("urn:b", "b")
        + decision(
            "Result",
            "b.half(b.Plus one)",
            needs("urn:b#Plus one") + needs("urn:b#half", "requiredKnowledge"),
        ),
    )
    models = load_models(b, c)
    result = compile_decision(models.load(a), "Result", models)
    assert result.evaluate({"b": {"c": {"x": 3}}}).value == 5
    assert result.evaluate({"b.c.x": 1}).value == 2
    # A chain of unnamed imports is one namespace.
    b_unnamed = b.replace('name="c"', 'name=""').replace("c.Triple", "Triple")
    a_unnamed = a.replace('name="b"', 'name=""').replace("b.", "")
    models = load_models(b_unnamed.replace("urn:c#Triple", "#Triple"), c)
    flat = compile_decision(models.load(a_unnamed.replace("urn:b#", "#")), "Result", models)
    assert flat.evaluate({"x": 3}).value == 5


def test_imported_decision_services_and_services_over_imported_decisions() -> None:
    main = model(
        "urn:main",
        imports("urn:people", "people")
        + decision(
            "Check",
            'people.check visitor({name: "Al", age: 70})',
            needs("urn:people#check", "requiredKnowledge"),
        )
        + """<decisionService id="local" name="local check">
               <outputDecision href="urn:people#Adult"/><inputData href="urn:people#Visitor"/>
             </decisionService>""",
    )
    compiled, _ = people_and(main)
    assert compiled.decision("Check").evaluate({}).value is True
    service = ServiceFunction(compiled, compiled.definitions.decision_services[0])
    assert [name for name, _ in service.parameters] == ["people.Visitor"]
    assert service(**{"people.Visitor": {"name": "Kid", "age": 4}}) is False


def test_dmn_1_2_models_and_imports_of_other_kinds() -> None:
    old = model("urn:old", decision("Answer", "42"), version=DMN_12)
    main = model(
        "urn:main",
        imports("urn:old", "old", version=DMN_12)
        + '<import namespace="http://www.w3.org/2001/XMLSchema" name="xsd" '
        'importType="http://www.w3.org/2001/XMLSchema"/>'
        + decision("Double", "old.Answer * 2", needs("urn:old#Answer")),
    )
    assert load_definitions(main).imports[0] == Import("urn:old", "old", DMN_12, None)
    models = load_models(old)
    assert evaluate_decision(models.load(main), "Double", {}, models).value == Decimal(84)


def test_location_uri_finds_a_model_whose_namespace_does_not_match(tmp_path: Path) -> None:
    # TCK folders import "http://montera.com.au/imports" from files of other namespaces.
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "inner.dmn").write_text(
        model("urn:shared", decision("d", '"inner"')), encoding="utf-8"
    )
    (tmp_path / "other.dmn").write_text(model("urn:shared", decision("d", '"other"')))
    (tmp_path / "main.dmn").write_text(
        model(
            "urn:main",
            imports("urn:declared-elsewhere", "i", "sub/inner.dmn")
            + decision("Result", "i.d", needs("urn:declared-elsewhere#d")),
        ),
        encoding="utf-8",
    )
    models = load_models(tmp_path)
    assert len(models) == 3
    main = models.load(tmp_path / "main.dmn")  # already loaded with the folder: not read again
    assert len(models) == 3
    assert compile_decision(main, "Result", models).evaluate({}).value == "inner"


def test_a_missing_model_names_the_import_and_its_namespace() -> None:
    main = model("urn:main", imports("urn:nowhere", "lost") + decision("d", "1"))
    with pytest.raises(DmnError) as error:
        compile_model(load_definitions(main))
    assert str(error.value) == (
        "model 'urn:main': import 'lost' (namespace 'urn:nowhere'): "
        "no model with that namespace was given (0 models loaded)"
    )


def test_an_import_cycle_is_an_error_unless_unnamed_imports_meet_again() -> None:
    a = model("urn:a", imports("urn:b", "b") + decision("d", "1"), name="A")
    b = model("urn:b", imports("urn:a", "a"), name="B")
    models = load_models(a, b)
    with pytest.raises(DmnError, match=r"import cycle: 'A' -> 'B' -> 'A' \(import 'a', "):
        compile_model(models.get("urn:a") or pytest.fail(), models)
    # Unnamed imports share one namespace: meeting a model again adds nothing.
    loop_a = model("urn:la", imports("urn:la", "") + imports("urn:lb", "") + decision("d", "x"))
    loop_b = model("urn:lb", imports("urn:la", "") + decision("x", '"b"'))
    models = load_models(loop_a, loop_b)
    definitions = models.get("urn:la") or pytest.fail()
    assert compile_decision(definitions, "d", models).evaluate({}).value is None  # no requirement
    with_requirement = model("urn:la", imports("urn:lb", "") + decision("d", "x", needs("#x")))
    models = load_models(with_requirement, loop_b)
    definitions = models.get("urn:la") or pytest.fail()
    assert compile_decision(definitions, "d", models).evaluate({}).value == "b"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            imports("urn:people", "p") + imports("urn:other", "p"),
            "two imports are named 'p' (namespaces 'urn:people' and 'urn:other')",
        ),
        (
            imports("urn:people", "Total") + decision("Total", "1"),
            "import 'Total' (namespace 'urn:people') has the name of a decision of this model",
        ),
    ],
)
def test_name_clashes_between_imports_are_errors(body: str, message: str) -> None:
    models = load_models(PEOPLE, model("urn:other", ""))
    with pytest.raises(DmnError, match=re.escape(message)):
        compile_model(models.load(model("urn:main", body)), models)


def test_an_ambiguous_namespace_is_an_error() -> None:
    models = load_models(PEOPLE, PEOPLE.replace("People", "People again"))
    main = model("urn:main", imports("urn:people", "p"))
    with pytest.raises(DmnError, match=r"is ambiguous: 2 loaded models have that namespace"):
        compile_model(models.load(main), models)


def test_hrefs_into_an_import_must_exist() -> None:
    main = model(
        "urn:main", imports("urn:people", "p") + decision("d", "1", needs("urn:people#nope"))
    )
    compiled, _ = people_and(main)
    with pytest.raises(DmnError, match="requires unknown decision 'urn:people#nope'"):
        compiled.decision("d")


def test_a_model_without_imports_compiles_as_before() -> None:
    compiled = compile_model(load_definitions(PEOPLE))
    assert compiled.decision("Greeting").evaluate({"Visitor": ANN}).value == "Hello Ann"
    assert compiled.imports == [] and compiled.unnamed == []


def test_hrefs_keep_the_namespace_of_another_model_only() -> None:
    definitions = load_definitions(
        model(
            "urn:main",
            decision("a", "1")
            + decision("b", "a", needs("urn:main#a") + needs("urn:other#x"))
            + decision("c", "a", needs("#a")),
        )
    )
    b, c = definitions.decision("b"), definitions.decision("c")
    assert b is not None and c is not None
    assert b.required_decisions == ("a", "urn:other#x")  # its own namespace: a local id
    assert c.required_decisions == ("a",)


def test_instance_of_in_an_imported_model_reads_that_models_types() -> None:
    shapes = model(
        "urn:shapes",
        '<itemDefinition name="tPoint"><itemComponent name="x"><typeRef>number</typeRef>'
        "</itemComponent></itemDefinition>"
        + input_data("Where")
        + decision("Is point", "Where instance of tPoint", needs("#Where", "requiredInput"))
        + '<businessKnowledgeModel id="check" name="point?"><encapsulatedLogic>'
        '<formalParameter name="p"/><literalExpression><text>p instance of tPoint</text>'
        "</literalExpression></encapsulatedLogic></businessKnowledgeModel>",
    )
    main = model(
        "urn:main",
        imports("urn:shapes", "s")
        + decision(
            "Both",
            "[s.Is point, s.point?({x: 1}), s.point?(1)]",
            needs("urn:shapes#Is point") + needs("urn:shapes#check", "requiredKnowledge"),
        ),
    )
    models = load_models(shapes)
    both = compile_decision(models.load(main), "Both", models)
    assert both.evaluate({"s": {"Where": {"x": 2}}}).value == [True, True, False]
