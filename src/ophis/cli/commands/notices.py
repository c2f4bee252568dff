"""``ophis notices``: the channels' notices, as conda shows them."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import typer

from ophis.cli.options import CHANNEL, JSON, OVERRIDE
from ophis.cli.output import fail, stdout
from ophis.core.channel import Channel
from ophis.core.errors import OphisError
from ophis.manager.config import Config, load_config_from_os
from ophis.manager.notices import ChannelNotice, retrieve, unseen
from ophis.manager.operations import ChangeRequest, channels_for, tls_verify

#: C0 and C1 control characters but newline and tab
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def register(app: typer.Typer) -> None:
    app.command("notices")(notices)


def notices(
    channel: list[str] = CHANNEL,
    override_channels: bool = OVERRIDE,
    json_output: bool = JSON,
) -> None:
    """Show the latest notices of the channels (their notices.json)."""
    try:
        config = load_config_from_os()
        request = ChangeRequest(
            "notices", Path(), channels=tuple(channel), override_channels=override_channels
        )
        found = retrieve(channels_for(request, config), verify=tls_verify(config))
    except OphisError as error:
        fail(error, json_output)
    if json_output:  # conda prints one line of JSON: the list of notices
        sys.stdout.write(json.dumps([n.to_json() for n in found]) + "\n")
        return
    _print(found)


def show_new_notices(channels: list[Channel], config: Config) -> None:
    """After create/install/update, as conda: the channels' new notices, once a day at
    most (``number_channel_notices``: how many; 0 turns them off; never offline)."""
    if config.number_channel_notices <= 0 or config.offline:
        return
    try:
        shown, more = unseen(channels, config.number_channel_notices, verify=tls_verify(config))
    except OSError:
        return  # notices never stop a command
    _print(shown)
    if more:
        which = f"are {more} more messages" if more > 1 else "is 1 more message"
        _say(f"There {which}. To retrieve {'them' if more > 1 else 'it'} run:\n\nophis notices\n")


def _print(found: list[ChannelNotice]) -> None:
    current = None
    for notice in found:
        if notice.channel_name != current:
            _say(f'\nChannel "{_printable(notice.channel_name)}" has the following notices:')
            current = notice.channel_name
        _say(_message(notice) + "\n")


def _message(notice: ChannelNotice, indent: str = "  ") -> str:
    when = f"{notice.created_at:%c}" if notice.created_at else ""
    return f"{indent}[{notice.level}] -- {when}\n{indent}{_printable(notice.message)}"


def _printable(text: str | None) -> str:
    """A channel's text without terminal control sequences (a notice cannot move the
    cursor, recolour the terminal or hide lines)."""
    return _CONTROL.sub("", str(text))


def _say(text: str) -> None:
    stdout.print(text, highlight=False, markup=False, soft_wrap=True)
