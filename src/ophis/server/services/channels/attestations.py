"""``<file>.sig.json`` beside a served conda file: its in-toto attestation with the
channel's pkg_mgr signatures, visible exactly when the file is."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ophis.security.signing import ATTESTATION_SUFFIX
from ophis.server.db.models import File
from ophis.server.services.accounts.accounts import get_account
from ophis.server.services.channels.repodata import open_package_file
from ophis.server.services.trust import signing


def attestation_for(
    session: Session, principal: Any, login: str, label: str, subdir: str, name: str
) -> bytes:
    """``GET .../<subdir>/<file>.sig.json``: as visible as the file itself (the same 404)."""
    filename = name.removesuffix(ATTESTATION_SUFFIX)
    open_package_file(session, principal, login, label, subdir, filename, count=False)
    owner = get_account(session, login)
    row = session.execute(
        select(File.id, File.sha256).where(
            File.owner_id == owner.id, File.basename == f"{subdir}/{filename}"
        )
    ).one()
    return signing.attestation_document(session, row.id, filename, row.sha256)
