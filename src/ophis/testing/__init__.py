"""Builders and helpers shared by Ophis's tests (packages, test data). Not used at runtime."""
