"""`python -m tools.ops`: the operator CLI."""

from tools.ops.cli import main

if __name__ == "__main__":
    main()
