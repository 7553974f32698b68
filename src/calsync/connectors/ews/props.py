"""calsync's extended properties on Exchange items: the business key (searchable) and the residue.

Both are named string properties in calsync's own property set (a fixed GUID), so they collide with no other
application's. The key is what a retried create looks up (FindItem with an IsEqualTo restriction on it) before
it makes a second copy.
https://learn.microsoft.com/en-us/exchange/client-developer/exchange-web-services/properties-and-extended-properties-in-ews-in-exchange
"""

from __future__ import annotations

from exchangelib import CalendarItem, Contact, ExtendedProperty, Task

PROPERTY_SET = "6a4c6f47-2a37-4f8e-8f2e-3a0d5c1b7e21"
KEY = "calsync_key"
RESIDUE = "calsync_residue"


class KeyProperty(ExtendedProperty):  # type: ignore[misc]  # exchangelib is untyped
    """The business key of an item calsync wrote (or adopted)."""

    property_set_id = PROPERTY_SET
    property_name = "calsync-key"
    property_type = "String"


class ResidueProperty(ExtendedProperty):  # type: ignore[misc]
    """What Exchange has no field for (see ``residue``)."""

    property_set_id = PROPERTY_SET
    property_name = "calsync-residue"
    property_type = "String"


def register() -> None:
    """Make the properties fields of the item classes calsync writes (once per process; exchangelib keeps them on
    the classes)."""
    for item_class in (CalendarItem, Task, Contact):
        if KEY not in {field.name for field in item_class.FIELDS}:
            item_class.register(KEY, KeyProperty)
            item_class.register(RESIDUE, ResidueProperty)


register()
