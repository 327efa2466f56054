import sys

from llmdiff.cli.main import main

sys.exit(main())
