"""The worker process: Temporal worker, intake dispatcher and reconciler."""
