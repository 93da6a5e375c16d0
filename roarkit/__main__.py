import sys

from roarkit.book.cli import main

sys.exit(main())
