"""Sizes as conda prints them (its ``human_bytes``), shared by every table that shows one."""

from __future__ import annotations


def human_bytes(size: int) -> str:
    """conda's sizes: bytes, whole KB, MB with one decimal, GB with two (1 KB = 1024 B)."""
    if size < 1024:
        return f"{size} B"
    kilo = size / 1024
    if kilo < 1024:
        return f"{round(kilo)} KB"
    mega = kilo / 1024
    if mega < 1024:
        return f"{mega:.1f} MB"
    return f"{mega / 1024:.2f} GB"
