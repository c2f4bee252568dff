"""Builders and helpers shared by Ophis's tests (packages, servers, clients, browsers, test
data), one module per topic. Not used at runtime.

The only home of code that more than one test module uses: test modules never import each
other (``tests/test_layout.py`` checks it), and conftest.py fixtures call what is here."""
