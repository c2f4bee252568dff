"""The server's business rules. Routes call one function here; these functions own their
database transaction (they commit) and raise :mod:`ophis.server.errors` errors."""
