"""Gupshup (partner API, v3 messages): `channel.py` (its settings), `adapter.py` (the Provider)."""
