"""`python -m gradeflow` is the `gradeflow` command."""

import sys

from gradeflow.launch.cli import main

sys.exit(main())
