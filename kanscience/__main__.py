"""``python -m kanscience``: the command line."""

if __name__ == "__main__":
    from .apps.cli import main

    raise SystemExit(main())
