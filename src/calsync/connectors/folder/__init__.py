"""A folder of ``.ics`` (or ``.vcf``) files, one item per file: the simplest real store, and vdirsyncer's format.

Each collection is a subfolder of the root (the collection ``""`` is the root itself). Versions are etags made
from the file's bytes, so a rewrite that keeps the bytes keeps the version. Writes are atomic: the new bytes go
to a hidden temporary file that is then linked (create: fails if the name exists, so two creates cannot both
win) or renamed (update) into place; an item that is a symbolic link is updated in its target, beside which the
temporary file goes. Temporary files a crashed run left are removed by a later listing once they are an hour old.
The sync token is a cache of every file's stat signature, etag and UIDs, so an incremental run reads only the
files whose size, mtime or inode changed, and a create still finds an item of its identity at any name (refused
as ``AlreadyExists``, as a CalDAV server refuses a second item of one UID).

``connector`` holds the connector class; ``files`` the helpers it reads and writes with (plain system calls),
the name check that keeps every path inside the root, and the sync token's cache of stat signatures;
``identities`` which file holds which identity; ``readahead`` the bytes a listing read, kept for the ``get()``
that follows.
"""

from calsync.connectors.folder.connector import FolderConnector
from calsync.connectors.folder.files import Signature, etag_of

__all__ = ["FolderConnector", "Signature", "etag_of"]
