"""``ophis index``: turn a directory of package files into a conda channel.

The conda-index job. Reads packages through ``ophis.core.package_file``, keeps what it
learnt in an SQLite cache so a re-index reads only new or changed files, and writes the
documents built by ``ophis.core`` atomically. May import ``ophis.core`` only.
"""
