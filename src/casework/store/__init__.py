"""Tables, database connections and migrations.

Importing the package loads every table module, so `Base.metadata` (what Alembic and the
schema test compare the database with) always holds the whole schema.
"""

from casework.store import document_tables as document_tables
from casework.store import identity_tables as identity_tables
from casework.store import notification_tables as notification_tables
from casework.store import oidc_tables as oidc_tables
from casework.store import tables as tables
from casework.store import webhook_tables as webhook_tables
