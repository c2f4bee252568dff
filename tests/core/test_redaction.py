"""Secrets never survive redaction, whatever shape they come in."""

from __future__ import annotations

from ophis.core.redaction import redact


def test_path_tokens_ophis_tokens_passwords_and_given_secrets_are_hidden() -> None:
    token = "oph-" + "a1B2" * 10
    text = (
        f"fetched https://h/conda/t/{token}/alice/noarch/repodata.json with {token}; "
        "also http://bob:hunter2@h/x and https://h/t/abc-123/c and secret-value"
    )
    hidden = redact(text, "secret-value")
    assert token not in hidden and "hunter2" not in hidden and "abc-123" not in hidden
    assert "secret-value" not in hidden
    assert "https://h/conda/t/<TOKEN>/alice/noarch/repodata.json" in hidden
    assert "http://bob:*****@h/x" in hidden


def test_text_without_secrets_is_unchanged() -> None:
    text = "https://conda.anaconda.org/conda-forge/noarch numpy>=1.26 t/x"
    assert redact(text) == text
