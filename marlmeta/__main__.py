import sys

from marlmeta.cli import main

sys.exit(main())
