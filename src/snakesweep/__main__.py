import sys

from snakesweep.cli import main

sys.exit(main())
