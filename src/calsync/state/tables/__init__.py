"""The state store's tables, as SQLAlchemy Core metadata.

This package is the schema's description for code (queries in ``calsync.state.sql`` and the other stores) and
for Alembic (autogenerate compares against it when a developer writes the next migration). The database itself
is only ever created by the migrations in ``calsync.state.migrations.versions``; a test checks that both agree.

One module per part of calsync, all joining the one ``metadata`` of ``base`` (with the naming convention and the
column types they share): ``sync`` holds the sync engine's tables (pairs, links, sync tokens, locks, jobs),
``hub`` the integrations with their users and the business store, ``operations`` those of the services around
them (admin sign-in, API access, scheduler, notifications, connector cache). Code that queries a table imports
it from its module.

Importing the package imports every table module, so ``metadata`` here always holds the whole schema: take it
from here (as the migrations do) whenever every table must be there.
"""

from calsync.state.tables import hub, operations, sync
from calsync.state.tables.base import metadata

__all__ = ["hub", "metadata", "operations", "sync"]
