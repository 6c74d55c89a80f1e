"""Meta-learning across games: sequential meta-initialisation, warm start and
MAML (Mao, Qiu, Wang et al., "Multi-Agent Meta-Reinforcement Learning:
Sharper Convergence Rates with Task Similarity", NeurIPS 2023, sections 3, 4)."""

from marlmeta.meta._maml import (
    MAMLRun as MAMLRun,
    adapted_ne_gap as adapted_ne_gap,
    inner_loop as inner_loop,
    maml as maml,
    maml_gradient as maml_gradient,
    maml_objective as maml_objective,
)
from marlmeta.meta._sequential import (
    MetaRun as MetaRun,
    individual as individual,
    potential_similarity as potential_similarity,
    sequential_meta as sequential_meta,
    similarity as similarity,
    warm_start as warm_start,
)
