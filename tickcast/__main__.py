"""`python -m tickcast` is the `tickcast` command."""

from tickcast.cli import app

app()
