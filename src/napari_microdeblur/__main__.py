"""``python -m napari_microdeblur``: the ``microdeblur`` command."""

import sys

from napari_microdeblur.cli import main

sys.exit(main())
