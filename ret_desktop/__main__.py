import multiprocessing
import sys

from ret_desktop.cli import main

if __name__ == "__main__":  # a compare reads one side in a child process, which imports this module again
    multiprocessing.freeze_support()
    sys.exit(main())
