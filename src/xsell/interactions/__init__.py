"""interactions stage."""
