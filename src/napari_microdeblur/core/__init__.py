"""The compute core: all numerics, no GUI (never imports qtpy, napari, magicgui or superqt)."""
