"""SIGINT and SIGTERM during a run: recorded, never raised inside JAX.

XLA compiles a program with callbacks into Python; Python's default SIGINT
handler raises ``KeyboardInterrupt`` inside such a callback, which aborts the
compilation half-way, and the interpreter then crashes while it shuts down
(SIGSEGV, exit -11) however long it waits first. So while a run is on, the
handler installed here only records the signal (or calls ``on_signal``, which
the command line uses to end the process at once with ``os._exit``, skipping
the shutdown); the runner raises :class:`Interrupted` between chunks. Inside
:meth:`Signals.hold` (writing ``figure.png`` and ``results.json``) a signal
waits until the section ends.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator

#: The signals a run handles.
HANDLED = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    """A run stopped by SIGINT or SIGTERM; its chunks written so far are kept.

    Attributes:
        signum: the signal number.
        exit_code: ``128 + signum`` (130 for SIGINT, 143 for SIGTERM).
    """

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.exit_code = 128 + signum


class Signals:
    """Within ``with Signals(on_signal):``, SIGINT and SIGTERM are recorded.

    Args:
        on_signal: called with the signal number by the handler itself (outside
            :meth:`hold`); ``None`` to only record it for :meth:`check`.

    Off the main thread (where Python cannot install handlers) it does nothing.
    """

    def __init__(self, on_signal: Callable[[int], None] | None = None):
        self.on_signal = on_signal
        self.pending: int | None = None
        self.holding = False
        self._old: dict[int, object] = {}

    def __enter__(self) -> Signals:
        if threading.current_thread() is threading.main_thread():
            self._old = {s: signal.signal(s, self._handle) for s in HANDLED}
        return self

    def __exit__(self, *exc) -> None:
        for s, old in self._old.items():
            signal.signal(s, old)
        self._old = {}

    def _handle(self, signum: int, frame) -> None:
        self.pending = signum
        if self.on_signal is not None and not self.holding:
            self.on_signal(signum)

    def check(self) -> None:
        """Raise :class:`Interrupted` if a signal arrived."""
        if self.pending is not None:
            raise Interrupted(self.pending)

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        """A section that a signal does not cut: it acts when the section ends."""
        self.holding = True
        try:
            yield
        finally:
            self.holding = False
        if self.pending is not None and self.on_signal is not None:
            self.on_signal(self.pending)
