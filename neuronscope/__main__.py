import sys

from neuronscope.cli import main

sys.exit(main())
