"""The plugin's docks: thin Qt front ends that collect parameters, run ``core`` in a napari
worker and show the results. Nothing here computes on pixels (docs/architecture.md).

Each dock (``_deblur``, ``_focus``, ``_compare``, ``_finetune``) is a leaf module named in
``napari.yaml`` and assembles shared parts: control panels (``_panels``, ``_controls``,
``_cards``), jobs run in workers (``_jobs``, ``_workers``), the layers they add as napari
layer-data tuples (``_layer_data``) and the layer helpers (``_layers``). No dock imports
another. Importing this package imports neither torch nor any dock, so napari starts without
torch and the core is imported when a dock opens.
"""
