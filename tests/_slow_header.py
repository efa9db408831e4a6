"""How slow the ``slow_reads`` fixture (conftest) makes the TIFF header reader, as for a huge
OME-XML: the dock tests check the GUI thread does not wait for it."""

SLOW_S = 2.0  # the header reader's time; the GUI thread must be back well before
