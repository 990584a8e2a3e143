"""GradeFlow's shared core: settings, database models, Redis keys, embedded services and the CLI."""
