"""Bring your own game: OpenSpiel, Gambit and normal-form games in and out.

:func:`from_openspiel` converts an OpenSpiel game (by a representation
strategy: :class:`NormalForm`, :class:`TurnBased`, :class:`ObservationTree`,
or :class:`Automatic`) into an object holding the marlmeta game as ``.game``
with ``policy_from_openspiel`` / ``policy_to_openspiel``. The normal-form,
Gambit and OpenSpiel converters live here too.
"""

from marlmeta.interop._gambit import (
    format_nfg as format_nfg,
    load_nfg as load_nfg,
    parse_nfg as parse_nfg,
    save_nfg as save_nfg,
)
from marlmeta.interop._gambit_efg import (
    GambitTree as GambitTree,
    load_efg as load_efg,
    parse_efg as parse_efg,
)
from marlmeta.interop._normal_form import (
    from_normal_form as from_normal_form,
    to_normal_form as to_normal_form,
)
from marlmeta.interop._openspiel import (
    AbstractRepresentation as AbstractRepresentation,
    Automatic as Automatic,
    NormalForm as NormalForm,
    ObservationTree as ObservationTree,
    OpenSpielNormalForm as OpenSpielNormalForm,
    OpenSpielTree as OpenSpielTree,
    TurnBased as TurnBased,
    from_openspiel as from_openspiel,
)
from marlmeta.interop._openspiel_matrix import (
    from_openspiel_normal_form as from_openspiel_normal_form,
    to_openspiel as to_openspiel,
)
from marlmeta.interop._openspiel_tree import from_openspiel_tree as from_openspiel_tree
from marlmeta.interop._openspiel_turns import (
    OpenSpielTurns as OpenSpielTurns,
    from_openspiel_turns as from_openspiel_turns,
)
