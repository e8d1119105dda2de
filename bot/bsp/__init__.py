"""WhatsApp BSP adapters behind `bot.bsp.base.Provider`: one folder per provider (its channel
settings model and its adapter), Meta's shared formats in `meta/`, and `registry.py` naming each
provider once."""
