"""The Exchange Web Services connector: on-premises Exchange 2016 and later through exchangelib.

One small module per concern: ``settings`` (what a connection needs), ``cache`` (autodiscover results),
``session`` (exchangelib configuration, TLS, HTTP throttling), ``errors`` (the one ``translate_errors()`` and the
retry loop), ``props`` (calsync's extended properties), ``convert`` and ``recurrence`` (items), ``series``
(modified and deleted occurrences), ``residue`` (a stable digest), ``checks``, ``availability`` and
``connector``.
"""
