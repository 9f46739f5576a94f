import sys

from kubehub_bench.run import main

sys.exit(main(sys.argv[1:]))
