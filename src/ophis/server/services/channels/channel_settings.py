"""An owner's channel as a whole: its visibility and its notices, as the settings page
shows them to the owner's admins. Whether the channel's packages may be read is decided by
:mod:`ophis.server.services.accounts.authz` alone; this module only flips the switch."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from ophis.server.db.models import Account, ChannelNotice
from ophis.server.services.accounts import accounts, authz
from ophis.server.services.accounts.authz import Principal
from ophis.server.services.channels import notices
from ophis.server.services.events import webhooks


@dataclass(frozen=True)
class ChannelSettings:
    owner: Account
    #: the caller and the organizations they administer (the owner selector)
    owners: list[Account]
    notices: list[ChannelNotice]


def channel_settings(session: Session, principal: Principal, owner_login: str) -> ChannelSettings:
    """The settings of ``owner_login`` (the caller's own channel when empty)."""
    owners = webhooks.manageable_owners(session, principal)
    owner = accounts.get_account(session, owner_login) if owner_login else owners[0]
    authz.check_manage_channel(session, principal, owner)
    return ChannelSettings(owner, owners, notices.all_notices(session, principal, owner))


def set_private_channel(
    session: Session, principal: Principal, owner_login: str, private: bool
) -> Account:
    """Make every package of the channel private (or give them back their own visibility).
    The channel caches need no purge: their keys hold the set of packages hidden from each
    caller, which this changes."""
    owner = accounts.get_account(session, owner_login)
    authz.check_manage_channel(session, principal, owner)
    owner.private_channel = private
    session.commit()
    return owner
