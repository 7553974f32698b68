"""Shared WebDAV machinery for the CalDAV and CardDAV connectors; not itself a connector.

``xml`` builds request bodies and parses multistatus responses (pure functions, no I/O), ``transport`` sends
requests (TLS, auth, retries, typed errors), ``quirks`` holds what known servers do differently as data,
``store`` is the collection logic both connectors share, ``identities`` finds their items by UID (``locate``),
and ``discovery`` finds homes and collections.
"""
