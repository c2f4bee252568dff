"""The model catalog: packages whose files are model variants (``distribution_type`` model,
one set of weights in several formats and quantizations), searched by task, quantization and
parameter count, and each model with its variants.

A model's card (architecture, task, parameters, context length, license, tokenizer) is what
its newest variant's header says (:mod:`ophis.core.model_files`, read at upload); the
uploader's word counts only for the summary, the task when the weights do not say, and the
license when the file has none. Only what the caller may read is listed, and a model the
caller may not read is answered as one that does not exist.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, selectinload

from ophis.core.distribution_types import DistributionType
from ophis.core.model_files import TASKS
from ophis.server.db.models import Account, File, Package, Release
from ophis.server.errors import BadRequest
from ophis.server.services.accounts import authz
from ophis.server.services.accounts.authz import Principal
from ophis.server.services.catalog import packages
from ophis.server.services.channels import browse, repo
from ophis.server.services.trust import channel_policy

#: the most models one search answers
MAX_RESULTS = 100
#: packages read per round while filtering by the card (task, quantization, parameters)
_BATCH = 200
#: the most packages one search reads before it stops
_MAX_SCANNED = 5000
#: the last page a search answers (``?page=``)
MAX_PAGES = _MAX_SCANNED // MAX_RESULTS


@dataclass(frozen=True)
class ModelFilters:
    """``?q=&task=&quantization=&min_parameters=&max_parameters=&owner=``."""

    text: str = ""
    task: str = ""
    quantization: str = ""
    min_parameters: int | None = None
    max_parameters: int | None = None
    #: one owner's models only ("": every owner's)
    owner: str = ""

    @classmethod
    def from_query(
        cls,
        text: str,
        task: str,
        quantization: str,
        min_parameters: str,
        max_parameters: str,
        owner: str = "",
    ) -> ModelFilters:
        """The filters as a query string gives them (a form sends empty bounds as "")."""
        return cls(
            text, task, quantization, _count(min_parameters), _count(max_parameters), owner.strip()
        )

    def check(self) -> None:
        if self.task and self.task not in TASKS:
            raise BadRequest(f"{self.task!r} is not a task.", f"Use one of: {', '.join(TASKS)}.")

    def admit(self, model: Model) -> bool:
        card = model.card
        parameters = card.get("parameters") or 0
        return (
            (not self.task or card.get("task") == self.task)
            and (not self.quantization or self.quantization.upper() in model.quantizations)
            and (self.min_parameters is None or parameters >= self.min_parameters)
            and (self.max_parameters is None or parameters <= self.max_parameters)
        )


def _count(text: str) -> int | None:
    text = text.strip().replace(",", "").replace("_", "")
    if not text:
        return None
    if not (text.isascii() and text.isdigit()):
        raise BadRequest(
            f"{text!r} is not a parameter count.", "Give a whole number, e.g. 7000000000."
        )
    return int(text)


@dataclass(frozen=True)
class Model:
    """A model the caller may read, with its variants."""

    package: Package
    #: the newest variant's card (model_files.ModelFacts.card)
    card: dict[str, Any]
    latest_version: str
    #: every variant the caller may see, newest version first
    variants: list[File] = field(default_factory=list)

    @property
    def quantizations(self) -> list[str]:
        """The quantization methods of the newest version's variants."""
        found = {
            str(row.attrs.get("quantization") or "")
            for row in self.variants
            if row.release.version == self.latest_version
        }
        return sorted(found - {""})

    @property
    def versions(self) -> list[str]:
        return list(dict.fromkeys(row.release.version for row in self.variants))

    @property
    def license(self) -> str:
        return self.package.license or str(self.card.get("license") or "")


def search_models(
    session: Session, principal: Principal, filters: ModelFilters, page: int = 1
) -> list[Model]:
    """The models matching ``filters`` the caller may read, by name: page ``page`` (from 1)
    of MAX_RESULTS each (a mirror of an owner's models reads them all, page by page)."""
    filters.check()
    query = browse.listed(select(Package), principal).where(
        select(File.id)
        .join(Release, Release.id == File.release_id)
        .where(Release.package_id == Package.id, File.distribution_type == DistributionType.MODEL)
        .exists()
    )
    if filters.owner:  # listed() joins the owner
        query = query.where(Account.login_key == filters.owner.lower())
    text = filters.text.strip().lower()
    if text:
        query = query.where(
            or_(
                func.lower(Package.name).contains(text, autoescape=True),
                func.lower(Package.summary).contains(text, autoescape=True),
            )
        )
    query = query.order_by(Package.name, Package.id)
    wanted = page * MAX_RESULTS
    found: list[Model] = []
    for offset in range(0, _MAX_SCANNED, _BATCH):
        batch = list(session.scalars(query.limit(_BATCH).offset(offset)))
        models = _models(session, batch, channel_policy.hidden_everywhere_clause(File.owner_id))
        found += [model for model in models if filters.admit(model)]
        if len(found) >= wanted or len(batch) < _BATCH:
            break
    return found[wanted - MAX_RESULTS : wanted]


def get_model(session: Session, principal: Principal, owner: str, name: str) -> Model:
    """One model the caller may read; NotFound (the same answer as for a model that does
    not exist) otherwise, or when the package has no model file the caller may see."""
    package = packages.get_package(session, principal, owner, name)
    shown = repo.shown_files(session, principal, package.owner)
    models = _models(session, [package], shown)
    if not models:
        raise authz.not_found(f"{package.owner.login}/{name}")
    return models[0]


def _models(session: Session, found: Iterable[Package], shown: Any) -> list[Model]:
    """Each package with its visible model variants (one query), newest first; packages
    without any left out."""
    found = list(found)
    rows = session.scalars(
        select(File)
        .join(Release, Release.id == File.release_id)
        .where(
            Release.package_id.in_([package.id for package in found]),
            File.distribution_type == DistributionType.MODEL,
            shown,
        )
        .options(selectinload(File.labels), selectinload(File.release))
        .order_by(Release.id.desc(), File.id.desc())
    )
    variants: dict[int, list[File]] = defaultdict(list)
    for row in rows:
        variants[row.release.package_id].append(row)
    models = []
    for package in found:
        mine = variants.get(package.id)
        if mine:
            newest = mine[0]
            models.append(Model(package, dict(newest.attrs), newest.release.version, mine))
    return models
