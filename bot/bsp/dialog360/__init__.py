"""360dialog (Cloud API behind a per-number key): `channel.py` (its settings), `adapter.py`."""
