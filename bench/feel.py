"""Decision-table throughput: compiled once, evaluated many times (casework.dmn).

Workloads (risk classification of a payment on amount, customer category and age):

  (1) a 3-input, 20-rule UNIQUE table whose cells are literals and comparisons with
      literals (`< 1000`, `[1000..10000[`, `"retail"`, `>= 18`): the common case;
  (2) the same kind of table with 100 rules (10 amount bands x 5 categories x 2 ages);
  (3) table (1) with its limits read from the context (`< small`, `>= adult age`), so every
      cell takes the general FEEL path instead of the precompiled fast one;
  (4) table (1) as a decision of a DMN model: `compile_decision(...).evaluate(inputs)`,
      which adds input type checks and the decision result around the table.

Every evaluation builds the full explanation (inputs, matched rules, warnings). Inputs are
random but realistic (log-normal amounts, uniform categories, ages 16-90), drawn once with
a fixed seed; every evaluation must match exactly one rule, which is checked first.

    .venv/bin/python bench/feel.py            # full run (about 20 s)
    .venv/bin/python bench/feel.py --quick    # smoke run (a few seconds)
    .venv/bin/python bench/feel.py --json out.json
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import platform
import random
import sys
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from casework.dmn import (
    Decision,
    Definitions,
    InputData,
    compile_decision,
    compile_table,
    decision_table,
)
from machine_info import basics

GOAL_20_RULES = 50_000  # evaluations per second, table (1)
CATEGORIES = ("retail", "business", "corporate", "vip", "public")
RISKS = ('"low"', '"medium"', '"high"', '"very high"')
OUTPUT = {"name": "risk", "values": '"very high", "high", "medium", "low"'}


def _bands(limits: list[int]) -> list[str]:
    cells = [f"< {limits[0]}"]
    cells += [f"[{low}..{high}[" for low, high in itertools.pairwise(limits)]
    return [*cells, f">= {limits[-1]}"]


def table_20() -> dict[str, Any]:
    """16 adult rules (4 amount bands x 4 categories) and 4 rules for minors."""
    rules: list[list[str]] = []
    categories = CATEGORIES[:4]
    for c, category in enumerate(categories):
        for b, band in enumerate(_bands([1_000, 10_000, 100_000])):
            rules.append([band, f'"{category}"', ">= 18", RISKS[min(3, (b + c) // 2)]])
    rules += [["-", f'"{category}"', "< 18", '"high"'] for category in categories]
    return {"hit_policy": "U", "inputs": ["amount", "category", "age"], "outputs": [OUTPUT],
            "rules": rules}  # fmt: skip


def table_20_general() -> dict[str, Any]:
    """Table (1) with every limit a name in the context: no fast path applies."""
    rules: list[list[str]] = []
    categories = CATEGORIES[:4]
    bands = ["< small", "[small..medium[", "[medium..large[", ">= large"]
    for c, category in enumerate(categories):
        for b, band in enumerate(bands):
            rules.append([band, f"= {category}", ">= adult age", RISKS[min(3, (b + c) // 2)]])
    rules += [["-", f"= {category}", "< adult age", '"high"'] for category in categories]
    return {"hit_policy": "U", "inputs": ["amount", "category", "age"], "outputs": [OUTPUT],
            "rules": rules}  # fmt: skip


GENERAL_CONTEXT = {"small": 1_000, "medium": 10_000, "large": 100_000, "adult age": 18}
GENERAL_CONTEXT |= {category: category for category in CATEGORIES}


def table_100() -> dict[str, Any]:
    limits = [500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000]
    rules: list[list[str]] = []
    for c, category in enumerate(CATEGORIES):
        for b, band in enumerate(_bands(limits)):
            for age, bump in ((">= 18", 0), ("< 18", 1)):
                risk = RISKS[min(3, (b // 3 + c // 2) + bump)]
                rules.append([band, f'"{category}"', age, risk])
    return {"hit_policy": "UNIQUE", "inputs": ["amount", "category", "age"],
            "outputs": [OUTPUT], "rules": rules}  # fmt: skip


def inputs(count: int, categories: tuple[str, ...], seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [
        {
            "amount": round(rng.lognormvariate(8.5, 1.8)),
            "category": rng.choice(categories),
            "age": rng.randint(16, 90),
        }
        for _ in range(count)
    ]


def as_model(table: dict[str, Any]) -> Definitions:
    numbers = "number"
    return Definitions(
        name="risk",
        decisions=(
            Decision(
                "Risk",
                decision_table(table),
                id="risk",
                type_ref="string",
                required_inputs=("amount", "category", "age"),
            ),
        ),
        input_data=(
            InputData("amount", "amount", numbers),
            InputData("category", "category", "string"),
            InputData("age", "age", numbers),
        ),
    )


def rate(
    evaluate: Callable[[Mapping[str, Any]], Any], data: list[dict[str, Any]], repeats: int
) -> float:
    """Best evaluations per second over ``repeats`` passes over ``data``."""
    for item in data[: len(data) // 4]:  # warm-up
        evaluate(item)
    best = 0.0
    for _ in range(repeats):
        gc.collect()
        started = time.perf_counter()
        for item in data:
            evaluate(item)
        best = max(best, len(data) / (time.perf_counter() - started))
    return best


def check(evaluate: Callable[[Mapping[str, Any]], Any], data: list[dict[str, Any]]) -> None:
    for item in data:
        result = evaluate(item)
        table = getattr(result, "table", None) or result
        if result.value is None or len(table.matched) != 1:
            raise SystemExit(f"benchmark table broken on {item}: {result}")


def run(quick: bool) -> dict[str, Any]:
    count, repeats = (5_000, 3) if quick else (50_000, 7)
    small = inputs(count, CATEGORIES[:4])
    wide = inputs(count, CATEGORIES)
    general = [item | GENERAL_CONTEXT for item in small]
    t20 = compile_table(table_20())
    t100 = compile_table(table_100())
    t20g = compile_table(table_20_general(), names=["adult age"])
    decision = compile_decision(as_model(table_20()), "Risk")
    workloads: list[tuple[str, Callable[[Mapping[str, Any]], Any], list[dict[str, Any]]]] = [
        ("(1) 20 rules, literal cells", t20.evaluate, small),
        ("(2) 100 rules, literal cells", t100.evaluate, wide),
        ("(3) 20 rules, cells read the context", t20g.evaluate, general),
        ("(4) 20 rules as a DMN decision", decision.evaluate, small),
    ]
    figures: dict[str, Any] = {}
    for name, evaluate, data in workloads:
        check(evaluate, data[:2_000])
        per_second = rate(evaluate, data, repeats)
        figures[name] = {"evaluations_per_second": round(per_second), "us": 1e6 / per_second}
    return figures


def report(figures: dict[str, Any], quick: bool) -> str:
    lines = ["| workload | evaluations/s | µs each | goal |", "|---|---:|---:|---|"]
    for name, figure in figures.items():
        goal = ""
        if name.startswith("(1)"):
            met = figure["evaluations_per_second"] >= GOAL_20_RULES
            goal = f"≥ {GOAL_20_RULES:,}: **{'PASS' if met else 'FAIL'}**"
        lines.append(
            f"| {name} | {figure['evaluations_per_second']:,} | {figure['us']:.1f} | {goal} |"
        )
    info = basics()
    lines.append("")
    lines.append(
        f"machine: {info['cpu']}, nproc {info['nproc']}, CPython {info['python']}"
        f" ({platform.system()}), {datetime.now(UTC):%Y-%m-%d}"
        + ("  [--quick: smoke figures only]" if quick else "")
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="a few-second smoke run")
    ap.add_argument("--json", metavar="PATH", help="also write all figures as JSON")
    args = ap.parse_args(argv)
    started = time.perf_counter()
    figures = run(args.quick)
    print(report(figures, args.quick))
    print(f"total {time.perf_counter() - started:.1f} s")
    if args.json:
        data = {"machine": basics(), "quick": args.quick, "figures": figures}
        Path(args.json).write_text(json.dumps(data, indent=2) + "\n")
    return 0 if figures["(1) 20 rules, literal cells"]["evaluations_per_second"] else 1


if __name__ == "__main__":
    sys.exit(main())
