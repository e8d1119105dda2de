"""Twilio (Content API, Messages API, form-encoded status callbacks): `channel.py`, `adapter.py`."""
