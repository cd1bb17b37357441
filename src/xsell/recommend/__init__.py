"""recommend stage: cross-sell, up-sell and buying-center suggestion tables.

How the tables are made (pure functions in ``tables.py``; the step ``xsell.steps.recommend``
only reads files, loads models and writes Parquet + ``tables.json``):

``today``
    Every time rule (``discontinued_on``, curated ``valid_until``, the regular-purchase, anchor,
    popularity and assortment windows) is evaluated at ``recommend.today``; by default the last
    order date in the data + 1 day, so a run on historical data (the demo) is deterministic and
    the same inputs always give the same tables. Set it to pin a run to a calendar date.

``cross_sell``
    Sources (association rules, item-KNN / ALS / BPR item similarity) are rank-normalised per
    product and blended with ``recommend.cross_sell_weights`` (``blend.py``). The product itself,
    its variants and same-family products (substitutes) are dropped. Rows exist for ``ALL`` and
    for each country where the product sold within ``assortment_months`` (see ``tables.py``);
    ``support/confidence/lift`` and ``reason`` carry that country's own basket evidence.

``up_sell``
    Same family (or its first ``upsell_family_chars`` characters), typical price
    ``upsell_min_price_ratio``..``upsell_max_price_ratio`` x higher, backed by buying centers that
    switched (all purchases of X strictly before the first purchase of Y, ``evidence.py``) and
    by model similarity within the family. Edges never go down or flat in price and a
    strongly-connected-component check removes any cycle (e.g. from curated pins without prices).

``buying_center_suggestions``
    The personal ranking of the champion model (``recommend.personal_model`` or the evaluation's
    best) blended with the cross-/up-sell rows of products the buying center bought recently;
    regular purchases are reorders and never suggested; buying centers without candidates (new
    ones) get (country, segment) -> country -> overall popularity. ``expected_value`` = score x
    median line value of the product in the buying center's country.

Variants (``variants.py``)
    Products are recommended, then the variant is named: the buying center's own previous
    configuration, else its country's most ordered, else the overall most ordered, else the
    master's first active standard variant. Never custom-made, never discontinued.

Business rules (``business_rules.py``) are applied last and each logs the rows it removed;
``tables.json`` has the totals under ``rules_applied``. Curated links and the review loop with
product managers (``xsell links review``) are described in ``curated.py``.
"""
