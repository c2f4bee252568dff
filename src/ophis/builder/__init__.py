"""Recipes into conda packages: see README.md in this folder."""
