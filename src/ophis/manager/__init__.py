"""Environments: configuration, solving, transactions, history. See README.md here."""
