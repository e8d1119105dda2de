"""Fortics (SZ.chat): `channel.py` (its settings), `adapter.py` (the Provider, assumptions listed)."""
