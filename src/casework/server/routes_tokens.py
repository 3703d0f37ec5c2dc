"""Your own API tokens: create (the secret is shown once), list, revoke."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, Field

from casework.server.auth import CurrentActor
from casework.server.deps import API_PREFIX, Db, Now, RowId
from casework.server.problems import problem_responses
from casework.server.schemas import Items, TokenCreated, TokenOut
from casework.services import credentials

router = APIRouter(prefix=f"{API_PREFIX}/tokens", tags=["tokens"])


class TokenIn(BaseModel):
    name: str = Field(min_length=1, max_length=200, description="What the token is for.")
    expires_at: datetime | None = Field(
        default=None, description="When it stops working (default: when revoked)."
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Create an API token for yourself",
    responses=problem_responses(401, 403, 422),
)
def create_token(
    body: TokenIn, actor: CurrentActor, db: Db, now: Now, response: Response
) -> TokenCreated:
    created = credentials.create_token(
        db, actor=actor, username=actor.id, name=body.name, now=now, expires_at=body.expires_at
    )
    response.headers["Location"] = f"{API_PREFIX}/tokens/{created.record.id}"
    # The one response that carries the secret: nobody may cache it.
    response.headers["Cache-Control"] = "no-store"
    return TokenCreated(
        **TokenOut.model_validate(created.record).model_dump(), token=created.secret
    )


@router.get("", summary="Your API tokens (never their secrets)", responses=problem_responses(401))
def list_tokens(actor: CurrentActor, db: Db) -> Items[TokenOut]:
    with db() as session:
        tokens = credentials.list_tokens(session, actor=actor, username=actor.id)
    return Items(items=[TokenOut.model_validate(t) for t in tokens])


@router.delete(
    "/{token_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Revoke one of your API tokens",
    responses=problem_responses(401, 403, 404),
)
def revoke_token(token_id: RowId, actor: CurrentActor, db: Db, now: Now) -> None:
    # Only the actor's own, even for an admin: someone else's token is a 404 here
    # (admins revoke other people's tokens with `casework token revoke`).
    credentials.revoke_token(db, actor=actor, token_id=token_id, now=now, owner=actor.id)
