"""Keys, tokens, passwords and encryption at rest."""
