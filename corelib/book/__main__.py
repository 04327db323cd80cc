"""`python -m corelib.book …`: the book tool's command line (`corelib.book.cli`)."""
import sys

from .cli import main

sys.exit(main())
