"""The networks: pure functions of their inputs (no schedules, guidance or torch.distributed)."""
