import sys

from ret_desktop.cli import main

if __name__ == "__main__":  # not when a child process (spawn: compare, conversion workers) imports this module
    sys.exit(main())
