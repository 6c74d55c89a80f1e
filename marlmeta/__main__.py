"""``python -m marlmeta``: the command line, :func:`marlmeta.cli.console`."""

import os

try:
    from marlmeta.cli import console
except KeyboardInterrupt:  # Ctrl-C before console() installs its handlers
    os.write(
        2,
        b"\nmarlmeta: interrupted (SIGINT); run the same command again to resume\n",
    )
    os._exit(130)

console()
