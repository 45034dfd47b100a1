"""The operator CLI (`python3 bw.py ops …` or `python -m tools.ops …`): tokens, migrations, dead
letters, read-model rebuilds, consumer lag and outbox backlog, disabled webhook endpoints."""
