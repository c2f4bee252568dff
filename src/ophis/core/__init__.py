"""The conda domain: pure values and rules. See README.md in this folder."""
