"""Backtests: replay history through the live pipeline, or the same code in-process; score it."""
