import sys

from ticketflow.entrypoints.cli import main

# Guarded: ``serve --workers N`` starts its processes with multiprocessing's spawn, which
# imports this module again in each of them.
if __name__ == "__main__":
    sys.exit(main())
