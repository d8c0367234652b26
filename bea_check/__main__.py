"""``python -m bea_check`` runs the ``bea-check`` command line."""

from .commands.main import run

if __name__ == "__main__":
    run()
