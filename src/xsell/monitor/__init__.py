"""monitor stage: did buying centers buy what a published run suggested? (pure, no I/O)

``config.py`` holds the ``monitor`` config section; ``uptake.py`` measures one published run on
the order lines dated after its data end (suggestions, the popularity counterfactual, the
cross-/up-sell links, rank buckets, curated vs learned). ``xsell.steps.monitor`` reads the runs
and the canonical lines, writes ``<outputs>/monitoring/<run_id>/uptake.csv`` and the plots, and
tracks each measurement in MLflow.
"""
