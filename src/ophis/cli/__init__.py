"""The command line: the only layer that prints. One module per verb in ``commands/``."""
