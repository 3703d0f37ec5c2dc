"""A team's cases newest first, from the team's index.

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-27

A case worker's list holds the cases of each of their teams, each read on its own
(`queries.list_cases`, `access.visible_cases`): the team's newest cases first. With
`ix_cases_team (team)` a database either read the team's cases and sorted them, or read
the newest cases of all and skipped the other teams'; SQLite, whose statistics give
one average of cases per team, chose the second for a small team among big ones: 105
ms a page for a team of 200 cases among 200,000. `ix_cases_team (team, opened_at, id)`
reads any team's page in order. Still sparse (a case without a team has no entry), so
a case opened writes what it wrote before.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _team_index(columns: list[str]) -> None:
    op.drop_index(op.f("ix_cases_team"), table_name="cases")
    condition = sa.text("team IS NOT NULL")
    op.create_index(
        op.f("ix_cases_team"),
        "cases",
        columns,
        unique=False,
        sqlite_where=condition,
        postgresql_where=condition,
    )


def upgrade() -> None:
    _team_index(["team", "opened_at", "id"])


def downgrade() -> None:
    _team_index(["team"])
