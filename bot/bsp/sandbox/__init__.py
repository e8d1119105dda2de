"""The built-in sandbox BSP: `channel.py` (its settings), `adapter.py` (the Provider),
`samples.py` (its templates and the customer messages `contato-bot sandbox inbound` makes)."""
