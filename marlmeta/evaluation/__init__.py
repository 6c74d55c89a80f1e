"""Exact, differentiable equilibrium metrics (``ALGORITHMS.md`` section 1)."""

from marlmeta.evaluation._metrics import (
    Report as Report,
)
from marlmeta.evaluation._metrics import (
    best_response_values as best_response_values,
)
from marlmeta.evaluation._metrics import (
    best_responses as best_responses,
)
from marlmeta.evaluation._metrics import (
    cce_gap as cce_gap,
)
from marlmeta.evaluation._metrics import (
    gains as gains,
)
from marlmeta.evaluation._metrics import (
    nash_conv as nash_conv,
)
from marlmeta.evaluation._metrics import (
    ne_gap as ne_gap,
)
from marlmeta.evaluation._metrics import (
    potential as potential,
)
from marlmeta.evaluation._metrics import (
    report as report,
)
from marlmeta.evaluation._metrics import (
    values as values,
)
