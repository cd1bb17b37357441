"""Size parameters of the synthetic demo data, one typed row per scale."""

from __future__ import annotations

from dataclasses import dataclass

from xsell.errors import UsageError


@dataclass(frozen=True)
class DemoScale:
    """How big one scale of the demo data is and how it is written."""

    name: str
    """Scale name (``tiny``, ``small``, ``medium``, ``large``)."""
    target_lines: int
    """Approximate number of order lines (sales + returns + extra rows)."""
    buying_centers: int
    """Number of buying centers (customer account + ship-to)."""
    families: int
    """Number of product families (core, accessory, consumable, spare-part kinds)."""
    products: int
    """Number of base products."""
    catalog_variants: int
    """Approximate number of standard (catalog) variants; custom-made variants come on top."""
    max_variants: int
    """Cap on the variants of one product (the heavy tail)."""
    chunk_buying_centers: int
    """Buying centers generated (and held in memory) at once."""
    file_format: str
    """``csv`` (one SAP-like file per year) or ``parquet`` (one part per chunk)."""


SCALES: dict[str, DemoScale] = {
    s.name: s
    for s in (
        DemoScale("tiny", 5_000, 150, 12, 200, 1_000, 40, 5_000, "csv"),
        DemoScale("small", 100_000, 2_500, 40, 1_500, 15_000, 300, 5_000, "csv"),
        DemoScale("medium", 2_000_000, 20_000, 150, 10_000, 200_000, 3_000, 5_000, "parquet"),
        DemoScale("large", 20_000_000, 200_000, 400, 40_000, 1_000_000, 5_000, 10_000, "parquet"),
    )
}


def get_scale(name: str) -> DemoScale:
    """The ``DemoScale`` called ``name``; ``UsageError`` naming the value when unknown."""
    try:
        return SCALES[name]
    except KeyError:
        raise UsageError(f"unknown demo-data scale {name!r} (expected one of {', '.join(SCALES)})") from None
