import sys

from ticketflow.cli import main

sys.exit(main())
