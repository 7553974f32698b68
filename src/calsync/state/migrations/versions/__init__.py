"""Alembic revisions of the state store, one module per revision, oldest first by number.

This file makes ``versions`` a package so setuptools ships the revisions with calsync; Alembic skips it.
"""
