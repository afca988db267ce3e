import sys

from ticketflow.entrypoints.cli import main

sys.exit(main())
