"""A child process's stderr without the log records of XLA itself.

Under load XLA's slow-operation alarm writes, from its own threads, a
record like::

    E1206 21:16:21.149378   26100 slow_operation_alarm.cc:73]
    ********************************
    [Compiling module jit_f for CPU] Very slow compile? If you want to ...
    ********************************
    E1206 21:17:02.571864   26098 slow_operation_alarm.cc:140] The operation took 2m41s

into the stderr of any process that compiles. A test that checks a child's
stderr line by line compares what is left once those records are removed:
every line that is not XLA's is kept, so the check is as strict as before.
"""

import re

# An absl/glog record header: severity, date, time, thread id, file:line].
_HEADER = re.compile(r"^[IWEF]\d{4} \d\d:\d\d:\d\d\.\d+ +\d+ [\w.-]+\.cc:\d+\]")
# The body lines of the slow-compilation alarm.
_ALARM = re.compile(r"^(\*+|\[Compiling module .*\] Very slow compile\?.*)$")


def without_xla_log(stderr: str) -> str:
    """``stderr`` with XLA's own log records (header lines and the
    slow-compilation alarm's body lines) removed."""
    return "\n".join(
        line
        for line in stderr.splitlines()
        if not (_HEADER.match(line) or _ALARM.match(line))
    )
