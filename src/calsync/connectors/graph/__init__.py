"""Microsoft Graph (Exchange Online, Outlook 365): one app registration, application permissions, every mailbox.

The package is imported only when a configuration uses a ``graph`` connection (see ``connectors.registry``), so
msal and httpx are loaded then and not at the command line's start-up.
"""
