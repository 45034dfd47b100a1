"""/v1/compliance-catalogue: the catalogue an assessment is made against, by version and country,
and the versions there are."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query

from libs.servicekit.problems import NotFound
from services.assessment.api.common import Country, Deps, Reader
from services.assessment.compliance_catalogue import Catalogue
from services.assessment.schemas import CatalogueVersion

router = APIRouter(prefix="/v1/compliance-catalogue", tags=["compliance catalogue"])


def catalogue_view(catalogue: Catalogue, effective_from: date | None) -> dict[str, Any]:
    return {
        "version": catalogue.version,
        "effective_from": effective_from,
        "country": catalogue.country,
        "description": catalogue.description,
        "clusters": [cluster.model_dump() for cluster in catalogue.clusters],
    }


@router.get("")
async def get_catalogue(
    deps: Deps,
    principal: Reader,
    country: Country = None,
    version: Annotated[CatalogueVersion | None, Query()] = None,
) -> dict[str, Any]:
    """The catalogue for a country (its variant, or the base one) and version (default: latest)."""
    library = deps.catalogues
    chosen = version or library.latest_version
    catalogue = library.resolve(chosen, country.upper() if country else None)
    if catalogue is None:
        raise NotFound(f"catalogue version {chosen} does not exist")
    return catalogue_view(catalogue, library.effective_from(chosen))


@router.get("/versions")
async def catalogue_versions(deps: Deps, principal: Reader) -> dict[str, Any]:
    """The catalogue versions, the day each took effect and the countries each has a variant
    for (a new assessment pins the latest; an imported one the version in force on its day)."""
    library = deps.catalogues
    return {
        "latest": library.latest_version,
        "versions": [
            {
                "version": version,
                "effective_from": library.effective_from(version),
                "countries": library.countries(version),
            }
            for version in library.versions
        ],
    }
