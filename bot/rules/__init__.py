"""Pure rules: windows, pricing, phone numbers, templates. Imports nothing of ours but itself."""
