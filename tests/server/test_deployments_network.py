"""What the administrator is told at start about the network deployments run in (the
isolation itself is tested from inside user code in test_user_code_isolation.py)."""

from __future__ import annotations

from pathlib import Path

from ophis.server.services.hosting.deployments import network_warning
from ophis.server.settings import load_settings


def test_only_a_host_network_or_an_unknown_one_is_warned_of(tmp_path: Path) -> None:
    def warning(network: str, enabled: bool = True) -> str | None:
        settings = load_settings(
            data_dir=tmp_path, deployments_enabled=enabled, deployments_network=network
        )
        return network_warning(settings)

    assert warning("none") is None
    assert warning("host", enabled=False) is None
    assert "can connect to every deployment's port" in (warning("host") or "")
    assert warning("bridge") == (
        "deployments_network is 'bridge'. Set deployments_network to \"none\" "
        '(a network of its own per deployment) or "host".'
    )
    assert load_settings(data_dir=tmp_path).deployments_network == "none"
