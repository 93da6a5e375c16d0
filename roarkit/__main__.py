import sys

from roarkit.cli import main

sys.exit(main())
