"""Download statistics: per file, per UTC day, by platform (``subdir``).

A download bumps ``File.download_count`` and its file's row of the day in
:class:`~ophis.server.db.models.DailyDownloads` in one transaction, each with one statement
(an UPDATE and an upsert), so that concurrent downloads all count. Reading them goes
through :func:`ophis.server.services.catalog.packages.get_package`, so a private package's
statistics are as hidden as the package.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from ophis.server.db.engine import upsert
from ophis.server.db.models import DailyDownloads, File, Package, Release
from ophis.server.services.accounts.authz import Principal
from ophis.server.services.catalog import packages

#: the longest window the API answers for
MAX_DAYS = 366
#: the platform recorded for a file without a subdir (a wheel, an sdist)
NO_SUBDIR = "pypi"


@dataclass(frozen=True)
class DayCount:
    day: date
    subdir: str
    downloads: int


@dataclass(frozen=True)
class PackageStats:
    owner: str
    package: str
    days: list[DayCount]
    first_day: date

    @property
    def total(self) -> int:
        return sum(row.downloads for row in self.days)

    def as_json(self) -> dict[str, Any]:
        return {
            "package": f"{self.owner}/{self.package}",
            "total": self.total,
            "days": [
                {"day": row.day.isoformat(), "subdir": row.subdir, "downloads": row.downloads}
                for row in self.days
            ],
        }

    def as_csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["day", "subdir", "downloads"])
        writer.writerows((row.day.isoformat(), row.subdir, row.downloads) for row in self.days)
        return out.getvalue()


@dataclass(frozen=True)
class Bar:
    day: date
    downloads: int
    #: the bar's height, 0 to 1 of the tallest
    height: float


def today() -> date:
    return datetime.now(UTC).date()


def count_download(session: Session, row: File) -> None:
    """Count one download of ``row`` (all time and today), and commit."""
    _add_downloads(session, row.id, row.subdir, 1)
    session.commit()


def count_downloads(session: Session, counts: Mapping[int, int]) -> None:
    """Count ``counts[file id]`` downloads of each file, in one transaction (files removed
    meanwhile are skipped)."""
    rows = session.execute(select(File.id, File.subdir).where(File.id.in_(list(counts))))
    for file_id, subdir in rows.all():
        _add_downloads(session, file_id, subdir, counts[file_id])
    session.commit()


def _add_downloads(session: Session, file_id: int, subdir: str | None, times: int) -> None:
    session.execute(
        update(File).where(File.id == file_id).values(download_count=File.download_count + times)
    )
    values = {"file_id": file_id, "day": today(), "subdir": subdir or NO_SUBDIR, "count": times}
    statement = upsert(session, DailyDownloads).values(values)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[DailyDownloads.file_id, DailyDownloads.day],
            set_={"count": DailyDownloads.count + times},
        )
    )


def package_stats(
    session: Session, principal: Principal, owner: str, name: str, days: int = 30
) -> PackageStats:
    """Downloads of a package the caller may read (NotFound otherwise) per day and subdir,
    over the last ``days`` days, today included."""
    return downloads_of(session, packages.get_package(session, principal, owner, name), days)


def downloads_of(session: Session, package: Package, days: int = 30) -> PackageStats:
    """Downloads of ``package`` per day and subdir over the last ``days`` days."""
    first = today() - timedelta(days=min(max(days, 1), MAX_DAYS) - 1)
    total = func.sum(DailyDownloads.count)
    rows = session.execute(
        select(DailyDownloads.day, DailyDownloads.subdir, total)
        .join(File, File.id == DailyDownloads.file_id)
        .join(Release, Release.id == File.release_id)
        .where(Release.package_id == package.id, DailyDownloads.day >= first)
        .group_by(DailyDownloads.day, DailyDownloads.subdir)
        .order_by(DailyDownloads.day, DailyDownloads.subdir)
    ).tuples()
    return PackageStats(
        package.owner.login,
        package.name,
        [DayCount(day, subdir, int(count)) for day, subdir, count in rows],
        first,
    )


def chart(stats: PackageStats) -> list[Bar]:
    """One bar per day of the window, days without downloads included."""
    per_day: dict[date, int] = {}
    for row in stats.days:
        per_day[row.day] = per_day.get(row.day, 0) + row.downloads
    length = (today() - stats.first_day).days + 1
    days = [stats.first_day + timedelta(days=n) for n in range(length)]
    tallest = max(per_day.values(), default=0) or 1
    return [Bar(day, per_day.get(day, 0), per_day.get(day, 0) / tallest) for day in days]
