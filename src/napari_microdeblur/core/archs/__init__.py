"""One file per network architecture; each registers itself in ``core.registry``."""
