"""xsell: cross-sell and up-sell recommendations for B2B manufacturers from ERP order history."""

__version__ = "0.1.0"
