"""Where a file is now, for a URL that named it under a label it has left.

``@EXPLICIT`` files, lock files and pinned requirements name a file's URL under one label
(``/conda/<owner>/label/dev/noarch/x.conda``); promoting the file (``anaconda move --from-label
dev --to-label main``) must not break them. A request for a file that is no longer in the
label it names is answered with the label the file is in now, when the caller may read the
file there; to anyone else it stays absent, as before (nothing is revealed).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ophis.server.db.models import Account, File
from ophis.server.services.accounts.authz import Principal, can_read_package
from ophis.server.services.catalog.files import MAIN


def current_label(
    session: Session,
    principal: Principal,
    login: str,
    basename: str,
    distribution_type: str,
    scope: str,
) -> str | None:
    """The label the owner's file ``basename`` is in now (``main`` first, else the first
    by name), or None when it is in none or the caller may not read it."""
    row = session.scalar(
        select(File)
        .join(Account, Account.id == File.owner_id)
        .where(Account.login_key == login.lower(), Account.is_disabled.is_(False))
        .where(File.basename == basename, File.distribution_type == distribution_type)
    )
    if row is None or not row.labels:
        return None
    if not can_read_package(session, principal, row.release.package, scope):
        return None
    names = sorted(label.name for label in row.labels)
    return MAIN if MAIN in names else names[0]
