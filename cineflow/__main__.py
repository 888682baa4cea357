import sys

from cineflow.cli import main

sys.exit(main())
