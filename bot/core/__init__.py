"""The use cases: ingestion, sending, the screen, the windows report, template cache, alerts,
the confirmation and App Home data. No Slack listener and no SQL here."""
