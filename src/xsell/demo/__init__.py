"""Deterministic synthetic B2B ERP export for demo, tests and benchmarks (``xsell demo-data``).

``catalog`` draws products and buying centers, ``orders`` the order lines chunk by chunk,
``generate`` writes them (``write_demo_data``); ``scales`` holds the size table.
"""
