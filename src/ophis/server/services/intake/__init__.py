"""Intake: see README.md for what this folder holds and what it may import."""
