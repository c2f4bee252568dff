"""Package icons: the ``info/icon.png`` of the newest upload that had one, stored
content-addressed by :func:`ophis.server.services.catalog.files.store_icon` and served with the
package's own visibility."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from ophis.server.services.accounts import authz
from ophis.server.services.accounts.authz import Principal
from ophis.server.services.catalog import packages
from ophis.server.storage.interfaces import Storage


@dataclass(frozen=True)
class Icon:
    #: the storage key, which names the bytes (``icons/<sha256>.png``)
    key: str
    body: bytes


def package_icon(
    session: Session, storage: Storage, principal: Principal, owner_login: str, name: str
) -> Icon:
    """A package's icon; NotFound when it has none, when the caller may not read the
    package, or when the bytes are missing from storage (worded alike)."""
    package = packages.get_package(session, principal, owner_login, name)
    missing = authz.not_found(f"The icon of {package.owner.login}/{package.name}")
    if package.icon_key is None:
        raise missing
    try:
        # at most intake.inspection.ICON_MAX_BYTES: read whole, no stream to hold open
        body = b"".join(storage.iter_bytes(package.icon_key))
    except FileNotFoundError:
        raise missing from None
    return Icon(package.icon_key, body)
