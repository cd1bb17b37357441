"""``spark-submit``'s entry point: the ``xsell`` command line in a Python file.

``spark-submit`` runs a Python application only from a ``.py`` file (anything else is taken
for a JAR), so ``xsell`` itself cannot be submitted::

    PYSPARK_DRIVER_PYTHON=.venv/bin/python spark-submit --master yarn --deploy-mode client \\
        src/xsell/spark/submit.py run retrain --config FILE --set engine.spark.master=null

Python puts this file's folder first on ``sys.path``; it is removed before anything is
imported, so the modules next to it (``config``, ``session``, ...) cannot shadow others.
"""

import sys

if __name__ == "__main__":
    sys.path.pop(0)
    from xsell.cli import main

    sys.exit(main())
