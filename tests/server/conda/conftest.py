"""The test server's database, opened from the test process (see ``database.py``)."""

from tests.server.conda.database import database as database
