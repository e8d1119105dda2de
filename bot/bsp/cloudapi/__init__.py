"""Meta's WhatsApp Cloud API, direct: `channel.py` (its settings), `adapter.py` (the Provider)."""
