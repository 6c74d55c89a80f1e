"""Playing games: simulated episodes, Monte-Carlo values, an environment view
in the JaxMARL convention, and tabulation of policy functions back into exact
tabular policies."""

from marlmeta.simulation._env import (
    Box as Box,
    Discrete as Discrete,
    EnvState as EnvState,
    MarkovGameEnv as MarkovGameEnv,
    observation_table as observation_table,
)
from marlmeta.simulation._ippo import IPPO as IPPO, IPPORun as IPPORun
from marlmeta.simulation._jaxmarl import (
    FamilyEnv as FamilyEnv,
    FamilyState as FamilyState,
    register_with_jaxmarl as register_with_jaxmarl,
    unregister_from_jaxmarl as unregister_from_jaxmarl,
)
from marlmeta.simulation._simulate import (
    Episodes as Episodes,
    Estimate as Estimate,
    episode as episode,
    estimate as estimate,
    monte_carlo_values as monte_carlo_values,
    simulate as simulate,
)
from marlmeta.simulation._tabulate import tabulate as tabulate
from marlmeta.simulation._termination import (
    AbstractTermination as AbstractTermination,
    GeometricTermination as GeometricTermination,
    Truncation as Truncation,
)
