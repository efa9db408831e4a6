"""`microdeblur focus IMAGE [--tile N] [--camera-offset ADU] [--json]` (cli.build_parser): the
focus (sharpness) score of an image, of each of its slices, or of its tiles (``core.focus``)."""

from __future__ import annotations

import json


def cmd_focus(args) -> int:
    import numpy as np

    from .core import io
    from .core.files import image_axes
    from .core.focus import check_camera_offset, check_focus_tile, focus_score

    check_focus_tile(args.tile)  # bad options fail before the image is read
    check_camera_offset(args.camera_offset)
    data = io.read_image(args.input, lazy=False)
    image = np.asarray(data.array)
    axes = image_axes(data, args.axes)
    scores = focus_score(image, axes=axes, tile=args.tile, camera_offset=args.camera_offset)
    if args.json:
        key = "score" if np.ndim(scores) == 0 else "scores"
        print(json.dumps({key: np.asarray(scores).tolist(), "axes": axes, "tile": args.tile,
                          "camera_offset": args.camera_offset}))
    elif np.ndim(scores) == 0:
        print(f"{args.input}: focus score {scores:.6g}")
    else:
        for index, value in np.ndenumerate(np.asarray(scores)):
            print(f"{index}: {value:.6g}")
    return 0


def add_focus_command(sub) -> None:
    p = sub.add_parser("focus", help="focus (sharpness) score of an image, its slices or tiles")
    p.add_argument("input")
    p.add_argument("--axes", help="axes of the input (default: from the file, else a guess)")
    p.add_argument("--tile", type=int, help="score square tiles of N px instead of whole planes")
    p.add_argument("--camera-offset", type=float, default=0.0, metavar="ADU",
                   help="the camera's dark level, subtracted before scoring (e.g. 100 for many "
                   "sCMOS cameras; default 0); compare scores made with the same value")
    p.add_argument("--json", action="store_true",
                   help="one JSON object: 'score' (2D) or 'scores' (per slice, in order)")
    p.set_defaults(func=cmd_focus)
