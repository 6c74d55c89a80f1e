"""Meta-learning across games."""
