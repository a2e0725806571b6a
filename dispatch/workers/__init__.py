"""Background workers: supervision clock, early-warning runner, report scheduler, demo simulator."""
