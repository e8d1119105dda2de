"""WhatsApp BSP adapters: one module per provider behind `bot.bsp.base.Provider`."""
