"""The case type, people and command strategies of the random case histories
(`test_case_histories.py`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import strategies as st

from casework.engine import commands as c
from casework.services.actors import SYSTEM, Actor

T0 = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)

# Screening, assessment, approval by rule, follow-up that may loop: the usual life of a
# case, with every kind of plan item the engine has, a discretionary task, and business
# rules that set the case's risk and, from it, its priority.
HISTORIES = """
id: histories
name: Histories
roles: [handler, manager]
case_file:
  amount: {type: number, required: true}
  risk: {type: string, enum: [low, medium, high]}
  approved: boolean
  priority: integer
plan:
  exit_on: Withdrawn
  items:
    - user_event: Withdrawn
      roles: [manager]
    - task: Screen
      role: handler
      due: P1D
    - stage: Assessment
      after: Screen
      items:
        - task: Assess
          role: handler
        - task: Check documents
          repeat: true
          manual: true
          due: PT8H
    - task: Approve
      role: manager
      after: Assessment
      when: amount > 1000
    - milestone: Approved
      when: approved = true
    - timer: Reminder
      after: PT24H
    - task: Follow up
      after: Approved
      repeat: true
    - automated: Pay
      handler: histories.pay
      after: Approve
  discretionary:
    - task: Ask expert
      role: handler
      planned_by: manager
decisions:
  - name: Claim risk
    on_change: true
    inputs: [amount]
    outputs: [risk]
    rules:
      - ["< 1000", '"low"']
      - ["[1000..3000[", '"medium"']
      - [">= 3000", '"high"']
  - name: Claim priority
    on_change: true
    hit_policy: FIRST
    inputs: [risk]
    outputs: [priority]
    rules:
      - ['"high"', 1]
      - ['"medium"', 2]
"""

HANDLER = Actor("hana", roles=frozenset({"handler"}))
MANAGER = Actor("max", roles=frozenset({"manager"}))
ACTORS = st.sampled_from([SYSTEM, SYSTEM, HANDLER, MANAGER])
# Items of the plan, by id or instance id, and names that are none.
TARGETS = st.sampled_from(
    [
        "screen",
        "assessment",
        "assess",
        "check_documents",
        "approve",
        "follow_up",
        "ask_expert",
        "approved",
        "reminder",
        "pi-3",
        "casePlanModel",
        "pay",
        "call_back",
        "nothing",
    ]
)
VARIABLES = st.fixed_dictionaries(
    {},
    optional={
        "amount": st.integers(0, 5000),
        "risk": st.sampled_from(["low", "medium", "high"]),
        "approved": st.booleans(),
        "priority": st.one_of(st.none(), st.integers(1, 5)),
    },
)
# Values the case file refuses (not in the enum, of the wrong type).
BAD_VARIABLES = st.sampled_from(
    [{"risk": "unknown"}, {"amount": "lots"}, {"approved": "yes"}, {"amount": None}]
)
COMMANDS = st.one_of(
    st.builds(c.CompletePlanItem, TARGETS, VARIABLES),
    st.builds(c.ManualStart, TARGETS),
    st.builds(c.DisablePlanItem, TARGETS),
    st.builds(c.ReenablePlanItem, TARGETS),
    st.builds(c.CompleteStage, TARGETS),
    st.builds(c.ExitPlanItem, TARGETS),
    st.builds(c.SuspendPlanItem, TARGETS),
    st.builds(c.ResumePlanItem, TARGETS),
    # With a reason (PlanItemFaulted, plan_items.failure) or without (the transition only).
    st.builds(c.FaultPlanItem, TARGETS, st.sampled_from(["", "gave up: TimeoutError"])),
    st.builds(c.ReactivatePlanItem, TARGETS),
    st.builds(c.PlanDiscretionaryItem, st.just("ask_expert")),
    st.builds(c.OccurEvent, st.sampled_from(["withdrawn", "reminder"])),
    st.builds(c.SetVariables, VARIABLES),
    st.builds(c.ClaimTask, TARGETS, st.sampled_from(["hana", "olga"])),
    st.builds(c.UnassignTask, TARGETS),
    st.just(c.FireDueTimers()),
    st.sampled_from([c.SuspendCase(), c.ResumeCase(), c.TerminateCase()]),
    st.sampled_from([c.CloseCase(), c.ReopenCase()]),
    st.builds(
        c.AddAdHocTask,
        st.sampled_from(["Call the witness", "Get a second quote"]),
        stage=st.sampled_from([None, "assessment", "screen"]),
        role=st.sampled_from([None, "handler", "ghost"]),
        due=st.sampled_from([None, T0 + timedelta(days=3)]),
    ),
    st.builds(
        c.AssignTask,
        TARGETS,
        st.sampled_from(["hana", "olga"]),
        by=st.just("max"),
        delegate=st.booleans(),
    ),
)

# The next version of the type, deployed in the middle of histories: a longer screening
# and a task more. Deploying alternates the two sources, so each deploy is a version.
HISTORIES_V2 = HISTORIES.replace("due: P1D", "due: P2D").replace(
    "    - automated: Pay\n",
    "    - task: Call back\n      manual: true\n    - automated: Pay\n",
)
assert HISTORIES_V2.count("Call back") == 1 and "P2D" in HISTORIES_V2

# Case workers without the type's roles: they may not see its cases.
STRANGER = Actor("rita")

# Uploads: (bytes, file name, whether the document store accepts them when small enough).
UPLOADS = st.sampled_from(
    [
        (b"called the garage: they confirm the damage\n", "call.txt", True),
        (b"amount,date\n1200,2026-05-04\n", "quote.csv", True),
        (b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n", "quote.pdf", True),
        (b"called again: no answer\n", "call.txt", True),
        (b"MZ\x90\x00\x03\x00\x00\x00" + bytes(40), "setup.exe", False),
        (b"<html><script>alert(1)</script></html>", "page.html", False),
        (b"", "empty.txt", False),
        (b"a long statement " * 20, "long.txt", True),  # beyond MAX_UPLOAD below
    ]
)
MAX_UPLOAD = 200  # bytes: the long statement above is refused as too large
LINK_KINDS = st.sampled_from(["parent", "child", "related", "duplicate-of", "cousin"])
