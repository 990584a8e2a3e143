"""LTI 1.3: GradeFlow as a tool an LMS (Canvas, Moodle, …) launches, through pylti1p3 (see keys, protocol, admit)."""
