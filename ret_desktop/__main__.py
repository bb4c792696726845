import sys

from ret_desktop.cli import main

sys.exit(main())
