"""Synthetic product catalog and buying centers of a machine manufacturer (pure, no I/O).

The catalog holds families of four kinds (core machines, accessories, consumables, spare
parts) with price tiers, base products with heavy-tailed popularity and variant counts, and
the planted relationships the pipeline should recover: complement pairs (core product ->
accessory/consumable of another family), upgrade pairs (basic -> higher tier of the same
family), segment -> preferred families, discontinued products and country assortments.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from xsell.demo.scales import DemoScale

PERIOD_START = np.datetime64("2023-01-02")
PERIOD_END = np.datetime64("2025-12-31")

COUNTRIES: tuple[str, ...] = ("DE", "AT", "CH", "FR", "IT", "PL", "US", "GB")
COUNTRY_WEIGHTS = np.array([0.40, 0.10, 0.10, 0.10, 0.10, 0.08, 0.07, 0.05])
CURRENCIES: tuple[str, ...] = ("EUR", "EUR", "CHF", "EUR", "EUR", "PLN", "USD", "GBP")
SEGMENTS: tuple[str, ...] = (
    "Automobil", "Lebensmittel", "Chemie", "Maschinenbau", "Medizintechnik", "Elektronik", "Bau", "Logistik",
)
LEGAL_FORMS: tuple[str, ...] = ("GmbH", "GmbH", "AG", "SARL", "S.r.l.", "Sp. z o.o.", "Inc.", "Ltd")
"""Legal form of the demo customers' names, per country of ``COUNTRIES``."""
SALES_REPS: tuple[tuple[str, ...], ...] = (
    ("Anna Becker", "Jonas Weber", "Lea Schulz", "Tobias Richter"), ("Eva Gruber", "Lukas Bauer"), ("Nina Meier", "Marco Frei"),
    ("Claire Martin", "Hugo Bernard"), ("Giulia Rossi", "Luca Bianchi"), ("Piotr Nowak",), ("Emily Johnson", "Ryan Miller"),
    ("Oliver Smith",),
)
"""Sales representatives per country of ``COUNTRIES``; an account's rep is fixed by its number."""
_NAME_STEMS: tuple[str, ...] = (
    "Huber", "Brandt", "Keller", "Lang", "Vogel", "Roth", "Berg", "Kraus", "Winter", "Frank", "Sommer", "Hahn",
    "Lorenz", "Jung", "Wolf", "Schuster", "Albrecht", "Seidel",
)
_NAME_TRADES: tuple[str, ...] = (
    "Maschinenbau", "Anlagentechnik", "Metallbau", "Elektrotechnik", "Fahrzeugteile", "Verpackung", "Hydraulik",
    "Kunststofftechnik", "Antriebstechnik", "Fördertechnik", "Lebensmitteltechnik", "Gerätebau", "Laborbedarf",
)
KINDS: tuple[str, ...] = ("core", "accessory", "consumable", "spare_part")
CORE, ACCESSORY, CONSUMABLE, SPARE = range(4)
TIERS: tuple[str, ...] = ("basic", "standard", "premium")
TIER_PRICE = np.array([1.0, 1.35, 1.8])
"""Price multiplier per tier; with +-8% product noise premium/basic stays in 1.53-2.11."""

_KIND_SHARE = np.array([0.30, 0.25, 0.20, 0.25])
_KIND_LOG_PRICE = np.array([np.log(2500.0), np.log(80.0), np.log(25.0), np.log(60.0)])
_KIND_NOUNS: tuple[tuple[str, ...], ...] = (
    ("Kompressor", "Schweißgerät", "Kreiselpumpe", "Fräsmaschine", "Etikettendrucker", "Industriewaage",
     "Messgerät", "Hebebühne", "Bohrmaschine", "Kühlaggregat", "Schleifmaschine", "Hochdruckreiniger"),
    ("Halterung", "Druckschlauch", "Adapter", "Transportkoffer", "Fernbedienung", "Schutzhaube", "Stativ",
     "Kabelsatz", "Fußschalter", "Rollwagen"),
    ("Luftfilter", "Schweißdraht", "Hydrauliköl", "Etikettenrolle", "Schleifscheibe", "Reinigungsmittel",
     "Kühlmittel", "Farbband", "Dichtmasse"),
    ("Dichtungssatz", "Kugellager", "Antriebsmotor", "Steuerplatine", "Keilriemen", "Ventil", "Sensor",
     "Netzteil", "Lüfterrad"),
)
SPECIAL_NAMES: tuple[str, ...] = (
    "Schlauch; 10 m, ölbeständig",
    'Dichtungssatz 3/4" "Premium"',
    "Größenadapter Maß Ü-Weiß",
    '=HYPERLINK("http://x","y")',
)
"""Material texts that exercise CSV quoting, cp1252 and spreadsheet-formula safety."""

_P_PARTNERED = 0.85  # core products with planted complements
_P_UPGRADE_SOURCE = 0.5  # basic core products with a planted upgrade target
_P_RESTRICTED = 0.08  # unplanted products sold only in some countries
_P_DISCONTINUED = 0.05  # unplanted products discontinued mid-period
_SEGMENT_BOOST = 6.0  # popularity multiplier of a segment's preferred families


_HOLIDAYS = ("01-01", "05-01", "12-24", "12-25", "12-26")


def business_days() -> np.ndarray:
    """All business days (Mon-Fri without New Year, May Day, Christmas) of the history, ``datetime64[D]``."""
    years = range(PERIOD_START.astype(object).year, PERIOD_END.astype(object).year + 1)
    holidays = np.array([f"{y}-{md}" for y in years for md in _HOLIDAYS], dtype="datetime64[D]")
    days = np.arange(PERIOD_START, PERIOD_END + np.timedelta64(1, "D"))
    return days[np.is_busday(days, holidays=holidays)]


def format_ids(prefix: pa.Array | str, numbers: np.ndarray, width: int) -> pa.Array:
    """``prefix + zero-padded number`` per element, vectorised (e.g. ``P00123-V`` + ``007``)."""
    digits = pc.utf8_lpad(pa.array(np.asarray(numbers, dtype=np.int64)).cast(pa.string()), width, "0")
    return pc.binary_join_element_wise(prefix, digits, "")


def group_cdf(weights: np.ndarray, ptr: np.ndarray) -> np.ndarray:
    """Cumulative weights per CSR group, shifted so group ``g`` spans ``(g, g + 1]``.

    ``searchsorted(cdf, g + u, side="right")`` with ``u`` uniform in [0, 1) then draws an
    element of group ``g`` proportionally to its weight; zero-weight elements are never drawn.
    """
    counts = np.diff(ptr)
    group = np.repeat(np.arange(len(counts)), counts)
    cs = np.cumsum(weights, dtype=np.float64)
    before = np.concatenate([[0.0], cs])[ptr[:-1]]
    totals = cs[ptr[1:] - 1] - before
    cdf = (cs - before[group]) / totals[group] + group
    cdf[ptr[1:] - 1] = np.arange(1, len(counts) + 1)  # exact group ends
    return cdf


def _two_members(family: np.ndarray, fam_ptr: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two distinct random products of each given family (families have at least 3 products)."""
    start, size = fam_ptr[family], fam_ptr[family + 1] - fam_ptr[family]
    first = rng.integers(0, size)
    second = (first + rng.integers(1, size)) % size
    return start + first, start + second


@dataclass(frozen=True)
class Catalog:
    """Families, products and variants, with the planted relationships (index-based arrays)."""

    family_ids: np.ndarray
    family_kind: np.ndarray
    family_names: list[str]
    family_links: np.ndarray
    """(n_families, 2): linked accessory and consumable family of each core family, -1 otherwise."""
    product_ids: np.ndarray
    product_family: np.ndarray
    product_kind: np.ndarray
    product_tier: np.ndarray
    product_price: np.ndarray
    product_popularity: np.ndarray
    product_names: list[str]
    allowed: np.ndarray
    """(n_products, n_countries) bool: the country assortment."""
    discontinued_day: np.ndarray
    """Business-day index from which a product is no longer sold (``n_days`` = never)."""
    successor: np.ndarray
    """Product that replaces a discontinued one (itself otherwise)."""
    upgrade_to: np.ndarray
    """Planted upgrade target of a basic core product, -1 if none."""
    partner_ptr: np.ndarray
    partner_idx: np.ndarray
    """CSR: complements of core product ``p`` are ``partner_idx[partner_ptr[p]:partner_ptr[p + 1]]``."""
    segment_families: np.ndarray
    """(n_segments, n_families) bool: families each industry segment prefers."""
    variant_ptr: np.ndarray
    variant_price: np.ndarray
    variant_cdf: np.ndarray
    """Popularity of variants within their product, see ``group_cdf``."""
    variant_ids: pa.Array
    variant_names: pa.Array
    n_days: int

    @property
    def n_products(self) -> int:
        return len(self.product_ids)

    def product_weights(self, country: int, segment: int) -> np.ndarray:
        """Purchase propensity of every product for a buying center in (country, segment)."""
        boost = np.where(self.segment_families[segment][self.product_family], _SEGMENT_BOOST, 1.0)
        return self.product_popularity * boost * self.allowed[:, country]

    def variants_frame(self, days: np.ndarray) -> pd.DataFrame:
        """Product master of the catalog variants (SAP-like column names, typed values)."""
        prod = np.repeat(np.arange(self.n_products), np.diff(self.variant_ptr))
        return self.master_frame(self.variant_ids, prod, self.variant_price, self.variant_names, False, days)

    def master_frame(
        self, variant_ids: pa.Array, products: np.ndarray, list_price: np.ndarray, names: pa.Array, custom: bool,
        days: np.ndarray,
    ) -> pd.DataFrame:
        """Product-master rows ``MATNR;BASISMAT;PRODH;LISTPREIS;STATUS;AUSLAUF;SORTIMENT;MAKTX;SONDERANF``."""
        disc = self.discontinued_day < self.n_days
        auslauf = np.where(disc, days[np.minimum(self.discontinued_day, self.n_days - 1)], np.datetime64("NaT"))
        return pd.DataFrame(
            {
                "MATNR": variant_ids.to_pandas(),
                "BASISMAT": self.product_ids[products],
                "PRODH": self.family_ids[self.product_family][products],
                "LISTPREIS": list_price,
                "STATUS": np.where(disc, "discontinued", "active")[products],
                "AUSLAUF": auslauf.astype("datetime64[s]")[products],
                "SORTIMENT": self.assortment[products],
                "MAKTX": names.to_pandas(),
                "SONDERANF": "X" if custom else "",
            }
        )

    @cached_property
    def assortment(self) -> np.ndarray:
        """Per product the ``,``-joined countries it is sold in; empty = all countries."""
        return np.array(["" if row.all() else ",".join(c for c, ok in zip(COUNTRIES, row) if ok) for row in self.allowed])


def generate_catalog(scale: DemoScale, rng: np.random.Generator, n_days: int) -> Catalog:
    """Draw the product catalog of ``scale`` (families, products, variants, planted links)."""
    n_f, n_p = scale.families, scale.products
    # families: kinds, names, base prices, links core -> accessory / consumable family
    kind_counts = np.maximum(1, np.round(_KIND_SHARE * n_f).astype(int))
    kind_counts[0] += n_f - kind_counts.sum()
    family_kind = rng.permutation(np.repeat(np.arange(4), kind_counts))
    family_names = []
    seen: dict[int, int] = {}
    for k in family_kind:
        i = seen.get(int(k), 0)
        seen[int(k)] = i + 1
        nouns = _KIND_NOUNS[k]
        family_names.append(nouns[i % len(nouns)] + (f" Serie {chr(65 + i // len(nouns) - 1)}" if i >= len(nouns) else ""))
    family_log_price = _KIND_LOG_PRICE[family_kind] + rng.normal(0.0, 0.6, n_f)
    links = np.full((n_f, 2), -1)
    core_f = np.flatnonzero(family_kind == CORE)
    for col, kind in ((0, ACCESSORY), (1, CONSUMABLE)):
        links[core_f, col] = rng.choice(np.flatnonzero(family_kind == kind), size=len(core_f))

    # products: contiguous per family, at least 3 each (one per tier)
    extra = rng.multinomial(n_p - 3 * n_f, rng.dirichlet(np.full(n_f, 2.0)))
    fam_ptr = np.concatenate([[0], np.cumsum(3 + extra)])
    product_family = np.repeat(np.arange(n_f), 3 + extra)
    product_kind = family_kind[product_family]
    pos_in_family = np.arange(n_p) - fam_ptr[product_family]
    product_tier = np.where(pos_in_family < 3, pos_in_family, rng.choice(3, size=n_p, p=[0.45, 0.35, 0.20]))
    noise = np.clip(rng.normal(0.0, 0.04, n_p), -0.077, 0.077)
    product_price = np.round(np.exp(family_log_price[product_family] + noise) * TIER_PRICE[product_tier], 2)
    popularity = rng.lognormal(0.0, 1.2, n_p)
    product_ids = np.array([f"P{i:05d}" for i in range(1, n_p + 1)])
    models = rng.integers(100, 1000, n_p)
    product_names = [
        f"{family_names[f]} {family_names[f][:2].upper()}-{m} {TIERS[t].capitalize()}"
        for f, m, t in zip(product_family, models, product_tier)
    ]
    for name, p in zip(SPECIAL_NAMES, np.argsort(-popularity * (product_kind != CORE), kind="stable")):
        product_names[p] = name

    # complements: each partnered core product gets 1-2 accessories and (p=0.7) a consumable
    core_p = np.flatnonzero(product_kind == CORE)
    partnered = core_p[rng.random(len(core_p)) < _P_PARTNERED]
    acc_fam, cons_fam = links[product_family[partnered]].T
    first_acc, second_acc = _two_members(acc_fam, fam_ptr, rng)
    cons, _ = _two_members(cons_fam, fam_ptr, rng)
    n_part = len(partnered)
    pairs = [
        np.column_stack([partnered, first_acc]),
        np.column_stack([partnered, second_acc])[rng.random(n_part) < 0.4],
        np.column_stack([partnered, cons])[rng.random(n_part) < 0.7],
    ]
    pair_arr = np.concatenate(pairs)
    pair_arr = pair_arr[np.lexsort((pair_arr[:, 1], pair_arr[:, 0]))]
    partner_ptr = np.searchsorted(pair_arr[:, 0], np.arange(n_p + 1))
    partner_idx = pair_arr[:, 1]

    # upgrades: basic core product X -> higher-tier product Y of the same family
    upgrade_to = np.full(n_p, -1)
    for f in core_f:
        members = np.arange(fam_ptr[f], fam_ptr[f + 1])
        basic = members[(product_tier[members] == 0) & (rng.random(len(members)) < _P_UPGRADE_SOURCE)]
        higher = members[product_tier[members] > 0]
        upgrade_to[basic] = rng.choice(higher, size=len(basic))

    # unplanted products: some restricted to a few countries, some discontinued mid-period
    protected = np.zeros(n_p, dtype=bool)
    protected[partnered] = protected[partner_idx] = True
    has_up = upgrade_to >= 0
    protected[has_up] = protected[upgrade_to[has_up]] = True
    allowed = np.ones((n_p, len(COUNTRIES)), dtype=bool)
    restricted = np.flatnonzero(~protected & (rng.random(n_p) < _P_RESTRICTED))
    n_allowed = rng.integers(1, 4, len(restricted))
    ranks = np.argsort(np.argsort(rng.random((len(restricted), len(COUNTRIES))), axis=1), axis=1)
    allowed[restricted] = ranks < n_allowed[:, None]
    discontinued_day = np.full(n_p, n_days)
    successor = np.arange(n_p)
    candidates = ~protected & allowed.all(axis=1) & (rng.random(n_p) < _P_DISCONTINUED)
    keeps = ~candidates & allowed.all(axis=1)
    for fam in range(n_f):
        members = np.arange(fam_ptr[fam], fam_ptr[fam + 1])
        gone, stay = members[candidates[members]], members[keeps[members]]
        if len(gone) and len(stay):
            discontinued_day[gone] = rng.integers(int(0.3 * n_days), int(0.8 * n_days), len(gone))
            successor[gone] = rng.choice(stay, size=len(gone))

    # segments prefer ~25% of the core families, their linked families and some spare parts
    n_seg = len(SEGMENTS)
    seg_core = rng.random((n_seg, len(core_f))) < 0.25
    seg_core[np.arange(n_seg), rng.integers(0, len(core_f), n_seg)] = True
    segment_families = np.zeros((n_seg, n_f), dtype=bool)
    for s in range(n_seg):
        chosen = core_f[seg_core[s]]
        segment_families[s, chosen] = True
        segment_families[s, links[chosen].ravel()] = True
    segment_families |= (family_kind == SPARE)[None, :] & (rng.random((n_seg, n_f)) < 0.2)

    # variants: heavy-tailed count per product, Zipf-like popularity within the product
    w = rng.pareto(1.1, n_p) + 1.0
    factor = scale.catalog_variants / w.sum()
    for _ in range(30):  # rescale so the capped counts still add up to the target
        counts = np.clip(np.round(w * factor), 1, scale.max_variants).astype(np.int64)
        factor *= scale.catalog_variants / counts.sum()
    variant_ptr = np.concatenate([[0], np.cumsum(counts)])
    v_prod = np.repeat(np.arange(n_p), counts)
    v_rank = np.arange(len(v_prod)) - variant_ptr[v_prod]
    v_weight = (v_rank + 1.0) ** -1.2 * rng.lognormal(0.0, 0.5, len(v_prod))
    variant_price = np.round(product_price[v_prod] * (1.0 + rng.uniform(0.0, 0.06, len(v_prod))), 2)
    pid = pa.array(product_ids)
    variant_ids = format_ids(pc.binary_join_element_wise(pid.take(v_prod), "-V", ""), v_rank + 1, 3)
    variant_names = format_ids(
        pc.binary_join_element_wise(pa.array(product_names).take(v_prod), ", Ausf. ", ""), v_rank + 1, 3
    )
    return Catalog(
        family_ids=np.array([f"F{i:03d}" for i in range(1, n_f + 1)]),
        family_kind=family_kind,
        family_names=family_names,
        family_links=links,
        product_ids=product_ids,
        product_family=product_family,
        product_kind=product_kind,
        product_tier=product_tier,
        product_price=product_price,
        product_popularity=popularity,
        product_names=product_names,
        allowed=allowed,
        discontinued_day=discontinued_day,
        successor=successor,
        upgrade_to=upgrade_to,
        partner_ptr=partner_ptr,
        partner_idx=partner_idx,
        segment_families=segment_families,
        variant_ptr=variant_ptr,
        variant_price=variant_price,
        variant_cdf=group_cdf(v_weight, variant_ptr),
        variant_ids=variant_ids,
        variant_names=variant_names,
        n_days=n_days,
    )


@dataclass(frozen=True)
class BuyingCenters:
    """Buying centers (ship-tos of customer accounts) with their purchasing behaviour."""

    account: np.ndarray
    ship_to: np.ndarray
    country: np.ndarray
    segment: np.ndarray
    activity: np.ndarray
    """Relative purchase volume (mean 1, heavy-tailed)."""
    first_day: np.ndarray
    last_day: np.ndarray
    discount: np.ndarray
    """Negotiated discount of the account on list prices."""

    def __len__(self) -> int:
        return len(self.account)

    def kunnr(self) -> np.ndarray:
        return np.char.add("K", (10_000 + self.account + 1).astype(str))

    def kunwe(self) -> np.ndarray:
        return np.char.add("W", np.char.zfill(self.ship_to.astype(str), 2))

    def names(self) -> np.ndarray:
        """Account names, fixed by the account number (no random draw): ``Huber Maschinenbau GmbH``."""
        stems, trades = np.array(_NAME_STEMS), np.array(_NAME_TRADES)
        name = np.char.add(np.char.add(stems[self.account % len(stems)], " "), trades[(self.account // len(stems)) % len(trades)])
        return np.char.add(np.char.add(name, " "), np.array(LEGAL_FORMS)[self.country])

    def sales_reps(self) -> np.ndarray:
        """The account's sales representative, one of its country's (fixed by the account number)."""
        return np.array([SALES_REPS[c][a % len(SALES_REPS[c])] for a, c in zip(self.account, self.country)], dtype=object)

    def frame(self) -> pd.DataFrame:
        """Customer master, one row per buying center: ``KUNNR;KUNWE;LAND1;BRANCHE;NAME1;VERTRETER``."""
        return pd.DataFrame(
            {
                "KUNNR": self.kunnr(),
                "KUNWE": self.kunwe(),
                "LAND1": np.array(COUNTRIES)[self.country],
                "BRANCHE": np.array(SEGMENTS)[self.segment],
                "NAME1": self.names(),
                "VERTRETER": self.sales_reps(),
            }
        )


def generate_buying_centers(scale: DemoScale, rng: np.random.Generator, n_days: int) -> BuyingCenters:
    """Draw customer accounts with 1-5 ship-tos each until ``scale.buying_centers`` exist."""
    n = scale.buying_centers
    per_account = rng.choice(np.arange(1, 6), size=n, p=[0.45, 0.25, 0.15, 0.10, 0.05])
    n_acc = int(np.searchsorted(np.cumsum(per_account), n)) + 1
    per_account = per_account[:n_acc]
    per_account[-1] -= per_account.sum() - n
    account = np.repeat(np.arange(n_acc), per_account)
    ship_to = np.arange(n) - np.repeat(np.cumsum(per_account) - per_account, per_account) + 1
    acc_country = rng.choice(len(COUNTRIES), size=n_acc, p=COUNTRY_WEIGHTS)
    acc_segment = rng.integers(0, len(SEGMENTS), n_acc)
    acc_discount = np.round(rng.uniform(0.0, 0.15, n_acc), 3)
    activity = rng.lognormal(0.0, 0.8, n)
    activity /= np.exp(0.8**2 / 2)
    first_day = np.where(rng.random(n) < 0.25, rng.integers(0, int(0.6 * n_days), n), 0)
    last_day = np.where(rng.random(n) < 0.10, rng.integers(int(0.4 * n_days), n_days, n), n_days - 1)
    last_day = np.maximum(last_day, first_day + n_days // 5).clip(max=n_days - 1)
    return BuyingCenters(
        account=account,
        ship_to=ship_to,
        country=acc_country[account],
        segment=acc_segment[account],
        activity=activity,
        first_day=first_day,
        last_day=last_day,
        discount=acc_discount[account],
    )
