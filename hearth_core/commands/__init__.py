"""The project command workspace: SOP templates, commands, the durable queue and its workers."""
