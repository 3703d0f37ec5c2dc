"""Cursors of the lists read newest first by one integer key (a case's notes, its
timeline, a person's notifications): the next page holds the rows before the key the
cursor carries. Opaque to clients, who pass back what they were given."""

from __future__ import annotations

import base64
import binascii
import json

from casework.services.errors import InvalidInput

# Keys are 64-bit on both databases: a larger one would fail the query, not the request.
_KEY_LIMIT = 2**63


def before_cursor(key: int) -> str:
    """The cursor of the page after the row whose key is `key`."""
    return base64.urlsafe_b64encode(json.dumps({"before": key}).encode()).decode()


def before_key(cursor: str) -> int:
    """The key a `before_cursor` carries; InvalidInput naming `cursor` for anything else."""
    try:
        before = json.loads(base64.urlsafe_b64decode(cursor.encode()))["before"]
    except (ValueError, TypeError, KeyError, binascii.Error):
        before = None
    if not isinstance(before, int) or isinstance(before, bool) or abs(before) >= _KEY_LIMIT:
        raise InvalidInput("the cursor is not one this server gave out", field="cursor")
    return before
