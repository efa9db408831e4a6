"""Which method settings each method reads, so that one given to a method that does not read
it is refused rather than dropped.

A ``MethodSpec`` carries every setting, but each method reads only some: Richardson-Lucy its
``iterations`` and ``tv_weight``, Wiener its ``balance``, a network its ``weights``, 'auto'
the image type (``modality``) where it picks the network. A setting given (not its default)
to a method that does not read it was dropped without a word, and the output's record kept it
(so `microdeblur info --command` gave a rerun carrying it). Now:

- ``unused_message``: the line ``MethodSpec.check`` raises, naming each such setting, the
  method, and what to do; None where every setting given is read;
- ``auto_unused_message``: the same for 'auto' given iterations or a TV weight with a PSF,
  once the image settled it (Richardson-Lucy in 3D reads them, a network does not;
  ``inference.as_method`` raises it, so selective deblurring, plane by plane, refuses them);
- ``without_unused``: the spec with those settings back at their defaults, for a caller that
  fills every field on the user's behalf (a dock's spin boxes of the other method).

Left as they were: ``modality`` with richardson_lucy or wiener ('auto' that becomes
Richardson-Lucy in 3D keeps it, and a settled spec is checked again), with 'auto' given a PSF
(the PSF-aware network serves every image type; without its weights installed, the modality
picks the blind network), and with a bundled network of that image type (or of any: the
PSF-aware ones), as `microdeblur info --command` names what 'auto' ran; ``precision`` with a
classical method; ``noise_scale`` (``MethodSpec.check`` and ``resolve`` refuse it).
"""

from __future__ import annotations

from .options import AUTO_BALANCE, AUTO_ITERATIONS
from .shown import shown_path

RL, WIENER = "richardson_lucy", "wiener"
#: each setting's default, which never counts as given; the order messages name them in
DEFAULTS = {"iterations": AUTO_ITERATIONS, "tv_weight": 0.0, "balance": AUTO_BALANCE,
            "weights": None, "modality": "auto"}
#: who reads each setting (in a message's words), and the method to choose for it
READERS = {
    "iterations": ("richardson_lucy", RL),
    "tv_weight": ("richardson_lucy", RL),
    "balance": ("wiener", WIENER),
    "weights": ("networks", "auto"),
    "modality": ("method 'auto' without weights (it picks that image type's network)", "auto"),
}
#: the settings each classical method reads (besides modality, which none refuses); a name
#: of method.CLASSICAL_METHODS without an entry is refused (method.check_classical_wiring)
CLASSICAL_READS = {RL: ("iterations", "tv_weight"), WIENER: ("balance",)}
#: a bundled network's image type as a message names it ('a em network' was said)
NETWORK_KINDS = {"em": "an EM network", "fluorescence": "a fluorescence network",
                 "brightfield": "a brightfield network"}


def given(spec, key: str) -> bool:
    """Whether ``spec``'s setting ``key`` is other than its default."""
    value, default = getattr(spec, key), DEFAULTS[key]
    return value != 0 if key == "tv_weight" else value != default


def _classical():
    from .method import CLASSICAL_METHODS

    return CLASSICAL_METHODS


def network_modality(name: str) -> str | None:
    """The image type a bundled network is for ('any' for the PSF-aware ones), as
    ``microdeblur methods`` lists it; None for a name that is no bundled network."""
    from .bundled import BUNDLED_WEIGHTS, DEFAULTS_BY_MODALITY

    for modality, names in DEFAULTS_BY_MODALITY.items():
        if name in names:
            return modality
    entry = BUNDLED_WEIGHTS.get(name)
    return entry.modality if entry is not None else None


def _reads(spec) -> set[str]:
    """The settings the method ``spec`` names reads (before the image settles 'auto')."""
    from .psf_estimate import is_estimate

    if spec.name in CLASSICAL_READS:
        return {*CLASSICAL_READS[spec.name], "modality"}
    if spec.name == "auto" and spec.weights is None:
        # Richardson-Lucy in 3D only with a PSF that can be 3D (not estimated, not a 2D model):
        # the image says
        may_3d = spec.psf is not None and not is_estimate(spec.psf) and not _is_2d(spec.psf)
        return {"modality"} | ({"iterations", "tv_weight"} if may_3d else set())
    reads = {"weights"}  # a network: bundled, an architecture with weights, 'auto' with weights
    if spec.weights is None and network_modality(spec.name) in ("any", spec.modality):
        reads.add("modality")  # says what the network is for: nothing is lost
    return reads


#: PSF models that are always one plane (core.psf): 'auto' never runs them in 3D
PLANE_MODELS = ("gaussian", "disk", "astig")


def _is_2d(psf) -> bool:
    """Whether ``psf`` is one plane whatever the image: a 2D array, or text whose every part
    ('A;B': a PSF per channel) is a plane model; files and optics models may be 3D."""
    shape = getattr(psf, "shape", None)
    if shape is not None:
        return len(shape) == 2
    from .psf_estimate import is_estimate

    parts = str(psf).split(";") if isinstance(psf, str) else [None]
    # an estimate is one plane too (psf_estimate: a Gaussian fitted on the middle plane)
    return all(p is not None and (is_estimate(p) or ":" in p and p.strip().partition(":")[0]
                                  .strip().lower() in PLANE_MODELS) for p in parts)


def unused(spec) -> list[str]:
    """The settings given to ``spec`` that the method it names does not read."""
    reads = _reads(spec)
    return [key for key in DEFAULTS if given(spec, key) and key not in reads]


def _value(spec, key: str) -> str:
    value = getattr(spec, key)
    return f"{key}={shown_path(value) if key == 'weights' else repr(value)}"


def _method_words(spec) -> str:
    from .psf_estimate import is_estimate

    if spec.name in _classical():
        keys = CLASSICAL_READS[spec.name]  # said beside a refusal
        return f"method={spec.name!r} (which reads {' and '.join(f'{k}=' for k in keys)})"
    if spec.weights is not None:
        return f"method={spec.name!r} with weights= (a network)"
    if spec.name == "auto":
        if spec.psf is None:
            return "method='auto' without a PSF (it runs a network)"
        if is_estimate(spec.psf):  # never 3D: '3D PSF on a z-stack' was said of it
            return ("method='auto' with psf='estimate' (an estimated PSF is one plane: it runs "
                    "a network)")
        if _is_2d(spec.psf):
            return "method='auto' with a one-plane PSF (it runs a network)"
        return "method='auto' (it runs a network, or richardson_lucy for a 3D PSF on a z-stack)"
    modality = network_modality(spec.name)
    return f"method={spec.name!r} ({NETWORK_KINDS.get(modality, 'a network')})"


def message(spec, keys: list[str], method_words: str | None = None) -> str:
    """One line: the settings ``keys`` of ``spec``, who reads them, the method that does not
    (``method_words``, else said from ``spec``), and what to do."""
    groups: dict[str, list[str]] = {}
    for key in keys:
        groups.setdefault(READERS[key][0], []).append(key)
    parts = []
    for reader, group in groups.items():
        verb = "applies" if len(group) == 1 else "apply"
        parts.append(f"{' and '.join(_value(spec, k) for k in group)} {verb} to {reader}")
    targets = {READERS[key][1] for key in keys}
    target = targets.pop() if len(targets) == 1 else None
    choose = (f" or choose method={target!r}" if target is not None and target != spec.name
              else "")
    if keys == ["modality"] and spec.weights is not None:
        # 'auto' with weights= is refused the modality too: the weights fix the network
        choose = (" (the weights fix the network), or drop weights="
                  + (" and choose method='auto'" if spec.name != "auto" else "")
                  + " to run the bundled network for that image type")
    return (f"{', '.join(parts)}, not to {method_words or _method_words(spec)}: drop "
            f"{' and '.join(f'{key}=' for key in keys)}{choose}")


def unused_message(spec) -> str | None:
    """The refusal of the settings given to ``spec`` that its method does not read; None where
    it reads every one given."""
    keys = unused(spec)
    return message(spec, keys) if keys else None


def auto_unused_message(settled, rgb: bool) -> str | None:
    """The refusal of iterations or a TV weight given to 'auto' (with a PSF: Richardson-Lucy in
    3D reads them) where the image settled it (``image_settings.spec_for_image``) as 'auto',
    a network, rather than Richardson-Lucy; else None."""
    from .bundled import auto_method_name

    if settled.name != "auto" or settled.weights is not None:
        return None
    keys = [key for key in ("iterations", "tv_weight") if given(settled, key)]
    if not keys:
        return None
    try:
        runs = auto_method_name(settled, rgb)
    except ValueError:  # no network installed: the run says so on its own
        runs = "a network"
    return message(settled, keys, f"method='auto' on this image (it runs {runs}; "
                   "'auto' runs richardson_lucy only in 3D, for a 3D PSF on a grayscale "
                   "z-stack deblurred whole)")


def without_unused(spec):
    """``spec`` with each setting its method does not read back at its default: for a caller
    that fills every field on the user's behalf; what the user gave goes to ``check``."""
    keys = unused(spec)
    return spec.replace(**{key: DEFAULTS[key] for key in keys}) if keys else spec
