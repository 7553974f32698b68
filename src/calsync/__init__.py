"""calsync: a self-hosted hub that syncs a business system with its users' calendars."""
