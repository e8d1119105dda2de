"""Pure Block Kit builders: the screen's modal, the agent's messages, text escaping and cutting.

No I/O here: every function takes the state it draws and returns Slack JSON.
"""
