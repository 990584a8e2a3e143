"""The launchers: what starts, stops and populates a deployment (the `gradeflow` command, `gradeflow up` and its
supervisor, the embedded services, the roles as processes, HAProxy's configuration, migrations, the demo course and
synthetic cohorts). They sit on top of every room; nothing below imports them (import-linter checks it)."""
