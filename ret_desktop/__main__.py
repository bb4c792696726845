import sys

from ret_desktop.cli import main

if __name__ == "__main__":  # not when a conversion worker (spawn) imports the main module
    sys.exit(main())
