"""`python -m gradeflow` is the `gradeflow` command."""

import sys

from gradeflow.cli import main

sys.exit(main())
