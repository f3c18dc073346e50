import sys

from paintgan.cli import main

sys.exit(main())
