"""``xsell ingest`` on Spark: ``xsell.ingest.lines.ingest_order_lines`` as Spark SQL over the
whole export at once, writing the local backend's layout.

The rules, their order, the quarantine reasons and the counts are the local ones (the module
docstring of ``xsell.ingest.lines``; ``REASONS``, ``EXCLUDE_RULES``, ``PRODUCT_SOURCES`` are
imported from there), and ``rows_read = rows_accepted + rows_quarantined + rows_excluded``
holds per file and in total. Differences of the Spark backend, all by design:

- duplicates are found by comparing the source values themselves (a window per distinct row,
  first in file / row order kept), not by 64-bit hashes;
- ``canonical/order_lines.parquet`` and ``quarantine/{quarantine,excluded}.parquet`` are
  Parquet datasets (folders of part files, rows in file / row order), which pandas and pyarrow
  read like one file; ``quarantine.csv`` is one file;
- product and customer masters (one row per variant / buying center) are read and completed on
  the driver by the local code; only the aggregates over the order lines that complete them
  (variants and buying centers the masters lack) run on Spark.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from xsell.errors import InputDataError
from xsell.ingest.config import MAPPABLE_ORDER_LINE_COLUMNS
from xsell.ingest.lines import EXCLUDE_RULES, ID_COLUMNS, PROVENANCE, REASONS, REQUIRED_ALWAYS, RULE_DUPLICATE, RULE_NON_PRODUCT
from xsell.ingest.mapping import resolve_columns, resolve_key_parts
from xsell.ingest.masters import _family, _typed_products
from xsell.ingest.summary import COUNT_KEYS, IngestSummary, merge_counts, summary_from_stats
from xsell.progress import stage
from xsell.schema import ALL_COUNTRIES, CUSTOMER_COLUMNS, ORDER_LINE_COLUMNS
from xsell.spark.parse import as_text, is_blank, java_regex, parse_dates, parse_flags, parse_ids, parse_numbers
from xsell.spark.read import SparkExport, guarded, read_order_lines
from xsell.spark.session import spark_session

if TYPE_CHECKING:
    from xsell.config import Config
    from xsell.ingest.masters import MasterResult

log = logging.getLogger(__name__)

TS_FORMAT = "yyyy-MM-dd HH:mm:ss"


@dataclass
class SparkIngest:
    """The outputs of ``ingest_order_lines_spark``."""

    lines: DataFrame
    """Accepted lines, ``ORDER_LINE_COLUMNS`` (plus ``file_index``), canonical types."""
    quarantine: DataFrame
    """Source columns as text + provenance + reason, column, value."""
    excluded: DataFrame
    """Source columns as text + provenance + rule, column, value, pattern."""
    counts: list[dict[str, Any]]
    """Per file (in file order): the local ``IngestResult.counts`` plus date_min / date_max."""
    cached: DataFrame
    """The (locally) checkpointed frame of every row and its outcome."""


def _first_true(pairs: list[tuple[Column, Column]], default: Column) -> Column:
    out = default
    for cond, value in reversed(pairs):
        out = F.when(cond, value).otherwise(out)
    return out


def _lit(value: str) -> Column:
    return F.lit(value)


@dataclass(frozen=True)
class _Source:
    """The export's columns as the ingest reads them: ``cols`` (canonical name -> source column),
    the buying-center key's source columns, and parsers of a source column by its name."""

    export: SparkExport
    cols: dict[str, str]
    key_cols: list[str]
    float_ids: bool

    def src(self, name: str) -> Column:
        return F.col(f"s{self.export.names.index(name)}")

    def dtype(self, name: str) -> T.DataType:
        return self.export.types[self.export.names.index(name)]

    def ids(self, name: str) -> Column:
        return parse_ids(self.src(name), self.dtype(name), float_ids=self.float_ids)

    def text(self, name: str) -> Column:
        return as_text(self.src(name), self.dtype(name))

    @property
    def price_cols(self) -> list[str]:
        return [c for c in ("unit_price", "net_value") if c in self.cols]


def _flagged() -> Column:
    """Rows the reader already quarantined (malformed)."""
    return F.col("read_reason") != ""


def ingest_order_lines_spark(export: SparkExport, cfg: Config, products: pd.DataFrame | None, spark: SparkSession) -> SparkIngest:
    """``xsell.ingest.lines.ingest_order_lines`` for the whole export (see module docstring)."""
    s = _resolve(export, cfg)
    df, key_text = _parse(export.frame, s, cfg)
    df = _derive(df, s, cfg)
    # a plan barrier: the optimiser would inline the parsers into every check below. Local: kept
    # by the executors (memory, then disk) and dropped with the frame, no files left behind
    df = df.localCheckpoint()
    df = _check(df, s, products, spark, key_text)
    df = _product_of(df, s, cfg)
    df = df.localCheckpoint()  # every row's outcome, read by the lines, the rejects and the counts
    return SparkIngest(_accepted_lines(df, s), *_rejects(df, export), _counts(df, export, cfg.ingest.exclude_variant_patterns), df)


def _resolve(export: SparkExport, cfg: Config) -> _Source:
    """The mapped columns, checked as the local ingest checks them (``InputDataError`` naming the files)."""
    data = cfg.data
    names = export.names
    file = ", ".join(str(p) for p in export.files[:3]) + (" ..." if len(export.files) > 3 else "")
    if any(c in names for c in PROVENANCE):
        raise InputDataError(f"source has reserved column(s) {[c for c in PROVENANCE if c in names]}; rename them in the export", file=file)
    required = list(REQUIRED_ALWAYS) + ([] if data.buying_center_key else ["buying_center_id"])
    cols = resolve_columns(names, data.columns, MAPPABLE_ORDER_LINE_COLUMNS, required, file=file, config_key="data.columns")
    if "unit_price" not in cols and "net_value" not in cols:
        raise InputDataError(
            "neither unit_price nor net_value found: map one of them in data.columns; available columns: " + ", ".join(repr(c) for c in names),
            file=file, column="unit_price",
        )  # fmt: skip
    key_cols = resolve_key_parts(names, cols, data.buying_center_key, file=file) if data.buying_center_key else []
    return _Source(export, cols, key_cols, data.normalize_float_ids)


def _parse(df: DataFrame, s: _Source, cfg: Config) -> tuple[DataFrame, dict[str, str]]:
    """Parsed columns (``_variant``, ``_order_id``, ``_duplicate``, ``_bc`` or ``_key<i>``, ``_date``,
    ``_qty``, prices, ``_flag``) in one projection (each withColumn would analyse the whole plan
    again); and the buying-center key part -> its parsed column."""
    data, cols = cfg.data, s.cols
    parsed: dict[str, Column] = {"_variant": s.ids(cols["variant_id"]), "_order_id": s.ids(cols["order_id"])}
    if cfg.ingest.drop_duplicates:
        same = Window.partitionBy(_flagged(), *[F.col(f"s{i}") for i in range(len(s.export.names))]).orderBy("file_index", "source_row")
        parsed["_duplicate"] = ~_flagged() & (F.row_number().over(same) > 1)
    else:
        parsed["_duplicate"] = F.lit(False)
    key_text: dict[str, str] = {}
    for i, (part_name, source) in enumerate(zip(data.buying_center_key or [], s.key_cols)):
        parsed[f"_key{i}"] = s.ids(source)
        key_text[part_name] = f"_key{i}"
    if not s.key_cols:
        parsed["_bc"] = s.ids(cols["buying_center_id"])
    date, date_range = parse_dates(
        s.src(cols["order_date"]), s.dtype(cols["order_date"]), date_format=data.csv.date_format, dayfirst=data.csv.dayfirst,
        zone=s.export.zones.get(cols["order_date"]),
    )  # fmt: skip
    parsed.update(_date=date, _date_range=date_range)
    num = partial(parse_numbers, decimal=data.csv.decimal, thousands=data.csv.thousands)
    parsed["_qty"] = num(s.src(cols["quantity"]), s.dtype(cols["quantity"]))
    for c in s.price_cols:
        parsed[f"_{c}"] = num(s.src(cols[c]), s.dtype(cols[c]))
        parsed[f"_{c}_blank"] = is_blank(s.src(cols[c]), s.dtype(cols[c]))
    if "is_custom" in cols:
        flag, bad_flag = parse_flags(s.src(cols["is_custom"]), s.dtype(cols["is_custom"]), true_values=data.csv.true_values, false_values=data.csv.false_values)
    else:
        flag, bad_flag = F.lit(False), F.lit(False)
    parsed.update(_flag=flag, _bad_flag=bad_flag)
    return df.withColumns(parsed), key_text


def _derive(df: DataFrame, s: _Source, cfg: Config) -> DataFrame:
    """Exclusion pattern, buying center (from the key parts), returns and money (``_signed_qty``,
    ``_unit``, ``_net``), ``_non_product``."""
    data, rules = cfg.data, cfg.ingest
    matched = _first_true([(F.col("_variant").rlike(f"^(?:{java_regex(p)})\\z"), _lit(p)) for p in rules.exclude_variant_patterns], _lit(""))
    derived: dict[str, Column] = {"_pattern": matched}
    if s.key_cols:
        parts = [F.col(f"_key{i}") for i in range(len(s.key_cols))]
        bc_column = _first_true([(p == "", _lit(n)) for p, n in zip(parts, data.buying_center_key or [])], _lit("buying_center_id"))
        derived["_bc_column"] = bc_column
        derived["_bc"] = F.when(bc_column == "buying_center_id", F.concat_ws("/", *parts)).otherwise(_lit(""))
    else:
        derived["_bc_column"] = _lit("buying_center_id")
    starts = F.lit(False)
    for prefix in rules.return_order_prefixes:
        starts = starts | F.startswith(F.col("_order_id"), _lit(prefix))
    qty = F.col("_qty")
    is_return = F.coalesce(qty < 0, F.lit(False)) | starts
    signed_qty = F.when(is_return, -F.abs(qty)).otherwise(qty)
    if "unit_price" in s.price_cols:
        unit_price = F.col("_unit_price")
    else:
        net, nonzero = F.col("_net_value"), F.when(qty != 0, qty)
        unit_price = F.when(is_return, F.abs(net) / F.abs(nonzero)).otherwise(net / nonzero)
    if "net_value" in s.price_cols:
        net_value = F.when(is_return, -F.abs(F.col("_net_value"))).otherwise(F.col("_net_value"))
    else:
        net_value = signed_qty * unit_price
    derived.update(_is_return=is_return, _signed_qty=signed_qty, _unit=unit_price, _net=net_value)
    df = df.withColumns(derived)
    return df.withColumn("_non_product", (F.col("_pattern") != "") & ~F.col("_duplicate") & ~_flagged())


def _bad_price(price_cols: list[str]) -> tuple[Column, Column]:
    """(the price check failed, the column it names): every price blank, one unparseable, or the
    net value not finite where the quantity is a number."""
    blank = {c: F.col(f"_{c}_blank") for c in price_cols}
    bad_each = {c: ~blank[c] & F.col(f"_{c}").isNull() for c in price_cols}
    all_blank = blank[price_cols[0]]
    for c in price_cols[1:]:
        all_blank = all_blank & blank[c]
    net_col = F.col("_net")
    not_finite = net_col.isNull() | F.isnan(net_col) | (F.abs(net_col) == float("inf"))
    bad_price = all_blank
    for c in price_cols:
        bad_price = bad_price | bad_each[c]
    bad_price = bad_price | (not_finite & F.col("_qty").isNotNull())
    return bad_price, _first_true([(bad_each[c], _lit(c)) for c in price_cols], _lit(price_cols[0]))


def _check(df: DataFrame, s: _Source, products: pd.DataFrame | None, spark: SparkSession, key_text: dict[str, str]) -> DataFrame:
    """The quarantine checks in ``REASONS`` order, the first failing one wins: ``_reason``,
    ``_column``, ``_value``; ``_accepted``; the master's product and custom flag joined on."""
    price_cols = s.price_cols
    active = ~F.col("_duplicate") & ~F.col("_non_product")
    bad_price, bad_price_col = _bad_price(price_cols)
    if products is not None:
        master = spark.createDataFrame(
            products[["variant_id", "product_id", "is_custom"]].astype({"variant_id": str, "product_id": str, "is_custom": bool}).values.tolist(),
            "_variant string, _master_product string, _master_custom boolean",
        )  # fmt: skip
        df = df.join(F.broadcast(master), "_variant", "left")
        known = F.col("_master_product").isNotNull()
    else:
        df = df.withColumns({"_master_product": F.lit(None).cast("string"), "_master_custom": F.lit(None).cast("boolean")})
        known = F.lit(True)
    date_col, range_col = F.col("_date"), F.col("_date_range")
    checks = [
        ("missing order id", F.col("_order_id") == "", _lit("order_id")),
        ("missing buying center", F.col("_bc") == "", F.col("_bc_column")),
        ("missing variant", F.col("_variant") == "", _lit("variant_id")),
        ("unknown variant", ~known, _lit("variant_id")),
        ("unparseable date", date_col.isNull() & (range_col == 0), _lit("order_date")),
        ("date out of range", range_col != 0, _lit("order_date")),
        ("non-numeric quantity", F.col("_qty").isNull(), _lit("quantity")),
        ("non-numeric price", bad_price, bad_price_col),
        ("negative price", F.coalesce(F.col("_unit") < 0, F.lit(False)), _lit(price_cols[0])),
        ("unrecognised flag", F.col("_bad_flag"), _lit("is_custom")),
    ]
    assert [c[0] for c in checks] == list(REASONS[2:]), "the Spark checks must follow xsell.ingest.lines.REASONS"
    reason = F.when(_flagged(), F.col("read_reason"))
    column = F.when(_flagged(), F.col("read_column"))
    for name, failed, col in checks:
        reason = reason.when(active & failed, _lit(name))
        column = column.when(active & failed, col)
    df = df.withColumns({"_reason": reason.otherwise(_lit("")), "_column": column.otherwise(_lit(""))})
    cols = s.cols
    texts: dict[str, Column] = {
        "order_id": F.col("_order_id"), "buying_center_id": F.col("_bc"), "variant_id": F.col("_variant"),
        **{c: s.text(cols[c]) for c in ("order_date", "quantity", "is_custom", *price_cols) if c in cols},
        **{part: F.col(name) for part, name in key_text.items()},
    }  # fmt: skip
    value = _first_true([(F.col("_column") == name, text) for name, text in texts.items()], _lit(""))
    return df.withColumns({
        "_value": F.when(_flagged(), F.col("read_value")).when(F.col("_reason") != "", value).otherwise(_lit("")),
        "_accepted": active & (F.col("_reason") == ""),
    })  # fmt: skip


def _product_of(df: DataFrame, s: _Source, cfg: Config) -> DataFrame:
    """``_product`` and ``_product_source``: the master's product, else the line's, else the
    ``data.variant_to_product`` regex's, else the variant itself."""
    from_master = F.coalesce(F.col("_master_product"), _lit("")) != ""
    line_product = s.ids(s.cols["product_id"]) if "product_id" in s.cols else _lit("")
    from_line = ~from_master & (line_product != "")
    regex = cfg.data.variant_to_product
    if regex:
        by_regex = F.col("_variant").rlike(java_regex(regex))
        regex_product = F.when(by_regex, F.regexp_extract(F.col("_variant"), java_regex(regex), 1)).otherwise(F.col("_variant"))
    else:
        by_regex, regex_product = F.lit(False), F.col("_variant")
    source = F.when(from_master, _lit("master")).when(from_line, _lit("line")).when(by_regex, _lit("regex")).otherwise(_lit("self"))
    return df.withColumns({
        "_product_source": source,
        "_product": F.when(from_master, F.col("_master_product")).when(from_line, line_product).otherwise(regex_product),
    })  # fmt: skip


def _accepted_lines(df: DataFrame, s: _Source) -> DataFrame:
    """The accepted rows as canonical order lines (``ORDER_LINE_COLUMNS`` + ``file_index``)."""
    cols = s.cols

    def text_or(name: str, default: Column) -> Column:
        if name not in cols:
            return default
        text = s.ids(cols[name]) if name in ID_COLUMNS else s.text(cols[name])
        return F.when(text != "", text).otherwise(default)

    return df.where(F.col("_accepted")).select(
        F.col("_order_id").alias("order_id"),
        text_or("order_line", _lit("")).alias("order_line"),
        F.col("_date").alias("order_date"),
        F.col("_bc").alias("buying_center_id"),
        text_or("customer_id", F.col("_bc")).alias("customer_id"),
        text_or("country", _lit(ALL_COUNTRIES)).alias("country"),
        F.col("_variant").alias("variant_id"),
        F.col("_product").alias("product_id"),
        F.col("_signed_qty").alias("quantity"),
        F.col("_unit").alias("unit_price"),
        F.col("_net").alias("net_value"),
        text_or("currency", _lit("")).alias("currency"),
        text_or("description", _lit("")).alias("description"),
        (F.col("_flag") | F.coalesce(F.col("_master_custom"), F.lit(False))).alias("is_custom"),
        F.col("_is_return").alias("is_return"),
        "source_file", "source_row", "file_index",
    )  # fmt: skip


def _rejects(df: DataFrame, export: SparkExport) -> tuple[DataFrame, DataFrame]:
    """(quarantined rows, excluded rows): the source columns as text, provenance and why."""
    source_text = [as_text(F.col(f"s{i}"), export.types[i]).alias(n) for i, n in enumerate(export.names)]
    quarantine = df.where(F.col("_reason") != "").select(
        *source_text, "source_file", "source_row", F.col("_reason").alias("reason"), F.col("_column").alias("column"),
        F.col("_value").alias("value"), "file_index",
    )  # fmt: skip
    excluded = df.where(F.col("_duplicate") | F.col("_non_product")).select(
        *source_text, "source_file", "source_row",
        F.when(F.col("_duplicate"), _lit(RULE_DUPLICATE)).otherwise(_lit(RULE_NON_PRODUCT)).alias("rule"),
        F.when(F.col("_duplicate"), _lit("")).otherwise(_lit("variant_id")).alias("column"),
        F.when(F.col("_duplicate"), _lit("")).otherwise(F.col("_variant")).alias("value"),
        F.when(F.col("_duplicate"), _lit("")).otherwise(F.col("_pattern")).alias("pattern"), "file_index",
    )  # fmt: skip
    return quarantine, excluded


def _counts(df: DataFrame, export: SparkExport, patterns: list[str]) -> list[dict[str, Any]]:
    """Per file: the counts of ``IngestResult.counts`` and the accepted lines' date range."""
    accepted, reason = F.col("_accepted"), F.col("_reason")

    def count(cond: Column) -> Column:
        return F.sum(cond.cast("long"))

    aggs: dict[str, Column] = {
        "rows_read": F.count("*"),
        "rows_accepted": count(accepted),
        "rows_quarantined": count(reason != ""),
        "rows_excluded": count(F.col("_duplicate") | F.col("_non_product")),
        "return_lines": count(accepted & F.col("_is_return")),
        "date_min": F.min(F.when(accepted, F.col("_date"))),
        "date_max": F.max(F.when(accepted, F.col("_date"))),
        **{f"r{i}": count(reason == r) for i, r in enumerate(REASONS)},
        "dup": count(F.col("_duplicate")),
        "nonprod": count(F.col("_non_product")),
        **{f"p{i}": count(F.col("_non_product") & (F.col("_pattern") == p)) for i, p in enumerate(patterns)},
        **{f"s_{s}": count(accepted & (F.col("_product_source") == s)) for s in ("master", "line", "regex", "self")},
    }
    rows = {r["file_index"]: r for r in df.groupBy("file_index").agg(*[v.alias(k) for k, v in aggs.items()]).collect()}
    out: list[dict[str, Any]] = []
    for i in range(len(export.files)):
        r = rows[i]
        out.append({
            **{k: int(r[k] or 0) for k in COUNT_KEYS},
            "quarantined_by_reason": {reason: int(r[f"r{j}"] or 0) for j, reason in enumerate(REASONS)},
            "excluded_by_rule": {EXCLUDE_RULES[0]: int(r["dup"] or 0), EXCLUDE_RULES[1]: int(r["nonprod"] or 0)},
            "excluded_by_pattern": {p: int(r[f"p{j}"] or 0) for j, p in enumerate(patterns)},
            "product_id_source": {s: int(r[f"s_{s}"] or 0) for s in ("master", "line", "regex", "self")},
            "return_lines": int(r["return_lines"] or 0),
            "date_min": None if r["date_min"] is None else str(r["date_min"].date()),
            "date_max": None if r["date_max"] is None else str(r["date_max"].date()),
        })  # fmt: skip
        if out[-1]["rows_read"] != out[-1]["rows_accepted"] + out[-1]["rows_quarantined"] + out[-1]["rows_excluded"]:
            raise AssertionError(f"ingest lost rows: {out[-1]}")
    return out


# -- masters: completed from the lines -----------------------------------------------------------------
def _first_in_file_order(col: str) -> Column:
    return F.min_by(F.col(col), F.struct("file_index", "source_row"))


def infer_products(lines: DataFrame, cfg: Config) -> pd.DataFrame:
    """``xsell.ingest.masters._infer_products`` of ``lines``: one row per variant, the aggregates
    on Spark, family / status / types by the local code."""
    agg = lines.groupBy("variant_id").agg(
        _first_in_file_order("product_id").alias("product_id"),
        F.bool_or("is_custom").alias("is_custom"),
        F.median(F.when(~F.col("is_return"), F.col("unit_price"))).alias("list_price"),
        F.array_join(F.array_sort(F.collect_set(F.when(F.col("country") != ALL_COUNTRIES, F.col("country")))), ";").alias("countries"),
    )
    names = most_frequent(lines, "variant_id", "description").withColumnRenamed("description", "name")
    out = _to_pandas(agg.join(names, "variant_id", "left")).sort_values("variant_id", kind="stable").reset_index(drop=True)
    out["name"] = out["name"].fillna("")
    out["family"] = _family(out["product_id"].astype("str"), cfg.data.family_rule)
    out["status"] = "active"
    out["discontinued_on"] = pd.Series(pd.NaT, index=out.index, dtype="datetime64[ns]")
    return _typed_products(out)


def most_frequent(frame: DataFrame, key: str, col: str) -> DataFrame:
    """``xsell.frames.most_frequent`` on Spark: ``key`` and the most frequent non-empty ``col``
    value among its rows (ties: the alphabetically first), one row per ``key``."""
    counts = frame.where(F.coalesce(F.col(col), _lit("")) != "").groupBy(key, col).count()
    best = Window.partitionBy(key).orderBy(F.desc("count"), F.asc(col))
    return counts.withColumn("_rank", F.row_number().over(best)).where(F.col("_rank") == 1).select(key, col)


def infer_customers(lines: DataFrame) -> pd.DataFrame:
    """``xsell.ingest.masters._infer_customers`` on Spark: per buying center the customer and the
    country its lines name most often; segment, name and sales rep empty."""
    country = most_frequent(lines, "buying_center_id", "country")
    customer = most_frequent(lines, "buying_center_id", "customer_id")
    out = country.join(customer, "buying_center_id", "left").withColumn("customer_id", F.coalesce(F.col("customer_id"), _lit("")))
    for empty in ("segment", "customer_name", "sales_rep"):
        out = out.withColumn(empty, _lit(""))
    frame = _to_pandas(out.select(*CUSTOMER_COLUMNS)).astype("str")
    return frame.sort_values("buying_center_id", kind="stable").reset_index(drop=True)


def _to_pandas(frame: DataFrame) -> pd.DataFrame:
    """A small Spark result on the driver, through Arrow."""
    return frame.toArrow().to_pandas()


def build_masters(lines: DataFrame, cfg: Config, products: MasterResult | None, customers: MasterResult | None, spark: SparkSession) -> tuple[pd.DataFrame, dict, pd.DataFrame, dict]:
    """``build_product_master`` / ``build_customer_master`` with the order-line aggregates on Spark."""
    if products is None:
        prod = infer_products(lines, cfg)
        prod_info = {"inferred": True, "from_master": 0, "inferred_rows": len(prod)}
    else:
        known = spark.createDataFrame([(v,) for v in products.master["variant_id"].astype(str)], "variant_id string")
        inferred = infer_products(lines.join(F.broadcast(known), "variant_id", "left_anti"), cfg)
        prod = _typed_products(pd.concat([products.master, inferred], ignore_index=True)) if len(inferred) else _typed_products(products.master)
        prod_info = {"inferred": False, "from_master": len(products.master), "inferred_rows": len(inferred)}
    if customers is None:
        cust = infer_customers(lines)
        cust_info = {"inferred": True, "from_master": 0, "inferred_rows": len(cust)}
    else:
        known = spark.createDataFrame([(b,) for b in customers.master["buying_center_id"].astype(str)], "buying_center_id string")
        inferred = infer_customers(lines.join(F.broadcast(known), "buying_center_id", "left_anti"))
        cust = pd.concat([customers.master, inferred], ignore_index=True).astype("str")
        cust_info = {"inferred": False, "from_master": len(customers.master), "inferred_rows": len(inferred)}
    return prod, prod_info, cust, cust_info


def line_stats(lines: DataFrame) -> dict[str, Any]:
    """``xsell.ingest.summary.line_stats`` on Spark."""
    sales = ~F.col("is_return")
    r = lines.agg(
        F.count("*").alias("n"),
        F.min("order_date").alias("date_min"), F.max("order_date").alias("date_max"),
        *[F.count_distinct(c).alias(f"n_{c}") for c in ("buying_center_id", "customer_id", "country", "product_id", "variant_id")],
        F.sum(sales.cast("long")).alias("sales"), F.sum((sales & F.col("is_custom")).cast("long")).alias("custom"),
    ).collect()[0]  # fmt: skip
    return {
        "date_min": None if not r["n"] else str(pd.Timestamp(r["date_min"])),
        "date_max": None if not r["n"] else str(pd.Timestamp(r["date_max"])),
        "n_buying_centers": int(r["n_buying_center_id"]),
        "n_customers": int(r["n_customer_id"]),
        "n_countries": int(r["n_country"]),
        "n_products": int(r["n_product_id"]),
        "n_variants": int(r["n_variant_id"]),
        "custom_share": float(r["custom"] / r["sales"]) if r["sales"] else 0.0,
    }


# -- the step ------------------------------------------------------------------------------------------
def _stack(frames: list[DataFrame], tail: tuple[str, ...]) -> DataFrame:
    """``xsell.steps.ingest._stack_rejects`` on Spark: union by name, missing text as ``""``,
    source columns first, then provenance and ``tail``, rows in file / row order."""
    out = frames[0]
    for other in frames[1:]:
        out = out.unionByName(other, allowMissingColumns=True)
    first = [c for c in out.columns if c not in PROVENANCE and c not in tail and c != "file_index"]
    return out.orderBy("file_index", "source_row").select(
        *[F.coalesce(F.col(f"`{c}`"), _lit("")).alias(c) for c in first], F.col("source_file"), F.col("source_row").cast("long"),
        *[F.coalesce(F.col(c), _lit("")).alias(c) for c in tail],
    )  # fmt: skip


def _master_rejects(spark: SparkSession, master: MasterResult, file_index: int) -> DataFrame | None:
    q = master.quarantine
    if q.empty:
        return None
    q = q.astype({c: "str" for c in q.columns if c != "source_row"}).assign(file_index=file_index)
    schema = T.StructType([T.StructField(c, T.LongType() if c in ("source_row", "file_index") else T.StringType()) for c in q.columns])
    return spark.createDataFrame(q.values.tolist(), schema)


def _write_dataset(frame: DataFrame, path: Path) -> Path:
    frame.write.mode("errorifexists").parquet(str(path))
    return path


def _write_single_csv(frame: DataFrame, path: Path) -> Path:
    """One CSV file like ``pandas.DataFrame.to_csv`` (header, ``""`` quoting only where needed)."""
    parts = path.with_name(f".{path.name}.parts")
    frame.coalesce(1).write.options(header=True, quote='"', escape='"', emptyValue="", lineSep="\n").csv(str(parts))
    written = sorted(parts.glob("part-*.csv"))
    if written:
        written[0].rename(path)
    else:  # no rows: Spark writes no part file
        path.write_text(",".join(frame.columns) + "\n", encoding="utf-8")
    shutil.rmtree(parts)
    return path


def run_spark_ingest(cfg: Config) -> IngestSummary:
    """``xsell.steps.ingest.run_ingest`` with ``engine.backend: spark`` (see module docstring)."""
    from xsell.steps.ingest import _write_generation, log_inferred, output_jobs, prepare_inputs, report_outcome

    wd, files, product_file, customer_file = prepare_inputs(cfg)
    spark = spark_session(cfg.engine.spark, wd.root)
    with stage("ingest (spark): read and validate", log) as report:
        export = read_order_lines(spark, files, cfg.data.csv)
        with guarded(files, "the order lines"):
            result = ingest_order_lines_spark(export, cfg, product_file.master if product_file else None, spark)
        counts = merge_counts({k: v for k, v in c.items() if k not in ("date_min", "date_max")} for c in result.counts)
        report.counts.update({k: counts[k] for k in COUNT_KEYS})
    lines = result.lines.persist(StorageLevel.MEMORY_AND_DISK)
    with stage("ingest (spark): masters", log) as report:
        products, product_info, customers, customer_info = build_masters(lines, cfg, product_file, customer_file, spark)
        log_inferred(product_info, customer_info)
        report.counts.update(products=len(products), customers=len(customers))
    summary = summary_from_stats(
        counts,
        line_stats(lines),
        files=[
            {"file": str(p), "encoding": enc, **{k: c[k] for k in (*COUNT_KEYS, "date_min", "date_max")}}
            for p, c, enc in zip(files, result.counts, export.encodings, strict=True)
        ],
        products={**(product_file.info if product_file else {}), **product_info},
        customers={**(customer_file.info if customer_file else {}), **customer_info},
        max_rejected_share=cfg.ingest.max_rejected_share,
    )
    rejects = [result.quarantine] + [
        q for i, m in enumerate((product_file, customer_file)) if m is not None and (q := _master_rejects(spark, m, len(files) + i)) is not None
    ]
    quarantine = _stack(rejects, ("reason", "column", "value")).persist(StorageLevel.MEMORY_AND_DISK)
    excluded = _stack([result.excluded], ("rule", "column", "value", "pattern"))
    ordered_lines = lines.orderBy("file_index", "source_row").select(
        *[F.col(c).cast("timestamp").alias(c) if c == "order_date" else F.col(c) for c in ORDER_LINE_COLUMNS]
    )
    with stage("ingest (spark): write", log) as report:
        jobs = output_jobs(
            summary, lines=ordered_lines, products=products, customers=customers, quarantine=quarantine, excluded=excluded,
            table=_write_dataset, csv=_write_single_csv,
        )  # fmt: skip
        _write_generation(wd, jobs)
        report.counts.update(lines=summary.rows_accepted, quarantined=summary.rows_quarantined, excluded=summary.rows_excluded)
    for frame in (quarantine, lines):
        frame.unpersist()
    report_outcome(summary, cfg, wd)
    return summary
