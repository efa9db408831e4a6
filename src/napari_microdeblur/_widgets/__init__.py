"""The plugin's docks: thin Qt front ends that collect parameters, run ``core`` in a napari
worker and show the results. Nothing here computes on pixels (ARCHITECTURE.md, principle 1).

Each dock is a leaf module named in ``napari.yaml``; importing this package imports neither
torch nor any dock, so napari starts without torch and the core is imported when a dock opens.
"""
