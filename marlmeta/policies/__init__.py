"""Policies: kinds (product, correlated, autoregressive) with the operations
evaluation needs, constructors, and their algebra."""

from marlmeta.policies._algebra import (
    Policy as Policy,
    alpha_greedy as alpha_greedy,
    argmax_uniform as argmax_uniform,
    expect as expect,
    expect_others as expect_others,
    logits as logits,
    marginals as marginals,
    product_to_joint as product_to_joint,
    random_policy as random_policy,
    softmax as softmax,
    uniform as uniform,
    validate as validate,
)
from marlmeta.policies._autoregressive import (
    as_autoregressive as as_autoregressive,
    autoregressive_joint as autoregressive_joint,
    autoregressive_logits as autoregressive_logits,
    autoregressive_softmax as autoregressive_softmax,
    autoregressive_uniform as autoregressive_uniform,
    from_product as from_product,
    random_autoregressive as random_autoregressive,
)
from marlmeta.policies._kinds import (
    PROB_TOL as PROB_TOL,
    AbstractPolicy as AbstractPolicy,
    AutoregressivePolicy as AutoregressivePolicy,
    CorrelatedPolicy as CorrelatedPolicy,
    ProductPolicy as ProductPolicy,
    as_policy as as_policy,
    as_product as as_product,
    simplex_tolerance as simplex_tolerance,
)
from marlmeta.policies._observation import (
    AbstractObservationPolicy as AbstractObservationPolicy,
    ObservationPolicy as ObservationPolicy,
    lift as lift,
    observation_policy as observation_policy,
    observation_uniform as observation_uniform,
    pool as pool,
)
from marlmeta.policies._private_types import (
    PrivateTypePolicy as PrivateTypePolicy,
    lift_types as lift_types,
    pool_types as pool_types,
    type_table as type_table,
)
