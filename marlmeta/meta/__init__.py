"""Meta-learning across games: sequential meta-initialisation (seed 000)."""

from marlmeta.meta._sequential import (
    MetaRun as MetaRun,
    individual as individual,
    sequential_meta as sequential_meta,
    similarity as similarity,
)
