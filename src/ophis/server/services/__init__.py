"""The server's business rules, in folders by domain (see README.md for the floor plan).
Routes call one function here; these functions own their database transaction (they commit)
and raise :mod:`ophis.server.errors` errors."""
