"""`microdeblur methods [--json]` (cli.build_parser): every method and weights file this
installation offers, 'auto' first, worded by ``core.bundled``'s own rules."""

from __future__ import annotations

import json


def cmd_methods(args) -> int:
    """The methods, 'auto' (the default) first: what it runs is worded by core.bundled's own
    rules (auto_label, auto_blind_fallback, auto_method_name), so the text cannot drift."""
    from .core import bundled
    from .core.catalog import CLASSICAL_DIMS, MethodEntry, list_methods
    from .core.method import MethodSpec

    def runs(spec, rgb):  # (words, networks named) of what 'auto' picks; ValueError: none
        words, name = bundled.auto_label(spec, rgb), bundled.auto_method_name(spec, rgb)
        blind = bundled.auto_blind_fallback(spec, rgb)
        if blind is not None:
            words += f" (or {blind} where the image gives no PSF estimate)"
        return words, {name} | ({blind} if blind else set())

    parts, networks, refused = [], set(), False
    cases = [(f"{m}: ", MethodSpec("auto", modality=m), m == "brightfield")
             for m in ("em", "fluorescence", "brightfield")]
    for lead, spec, rgb in [*cases, ("", MethodSpec("auto", psf="gaussian:2"), False)]:
        try:
            words, names = runs(spec, rgb)
        except ValueError as error:  # no usable weights for it: say why, mark it
            words, names, refused = f"none ({error})", set(), True
        parts.append(lead + words)
        networks |= names
    listed = list_methods()
    usable = {e.name for e in listed if e.installed}  # present and readable (catalog)
    share = round(100 * bundled.IN_FOCUS_SHARE_FOR_3D)
    short = round(100 * bundled.SHORT_STACK_SHARE_FOR_3D)
    auto = MethodEntry(
        name="auto", kind="auto", arch=None, modality="any", needs_psf=False,
        spatial_dims=CLASSICAL_DIMS, training_data_license=None,
        description=("the default; without --psf, by --modality (auto: brightfield for RGB, "
                     f"fluorescence for grayscale): {'; '.join(parts[:3])}. With --psf: "
                     f"{parts[3]}, or richardson_lucy in 3D for a 3D PSF on a z-stack: "
                     f"in-focus plane under {short}% of its light on up to "
                     f"{bundled.MOST_PLANES_FOR_ANY_3D} planes, under {share}% on more"),
        installed=not refused and networks <= usable)
    entries = [auto, *listed]
    if args.json:  # a JSON list with one object per line
        print("[\n" + ",\n".join(json.dumps(e.as_dict()) for e in entries) + "\n]")
        return 0
    width = max(len(e.name) for e in entries)
    for e in entries:
        missing = "" if e.installed else " (file not installed)"
        dims = "/".join(f"{d}D" for d in e.spatial_dims)
        print(f"{e.name:<{width}}  {e.kind:<12}  {dims:<5}  {e.description}{missing}")
    # --json's spatial_dims, in words: a 2D network on a z-stack is no 3D deconvolution
    print("2D: plane by plane on a z-stack; 2D/3D: a z-stack as one volume too (with a 3D PSF, "
          "or an architecture trained on volumes)")
    return 0


def add_methods_command(sub) -> None:
    p = sub.add_parser("methods", help="list every method and weight this installation offers")
    p.add_argument("--json", action="store_true", help="a JSON list, one object per method "
                   "(name, kind, arch, modality, needs_psf, spatial_dims, training data licence)")
    p.set_defaults(func=cmd_methods)
