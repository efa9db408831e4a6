"""The registry of training regimes: name -> :class:`Regime` subclass.

A regime is one file in this folder (a :class:`Regime` subclass: its loss weights, data,
discriminator, step and checkpoint criterion) plus one ``register_regime`` line below.
The registry refuses a second regime of the same name, like the architecture registry.
"""

from __future__ import annotations

from .base import Regime

__all__ = ["Regime", "get_regime", "list_regimes", "register_regime"]

_REGIMES: dict[str, type[Regime]] = {}


def register_regime(cls: type[Regime]) -> type[Regime]:
    """Add a regime class under ``cls.name``; ``ValueError`` if the name is taken."""
    if not (isinstance(cls, type) and issubclass(cls, Regime)):
        raise TypeError(f"register_regime takes a Regime subclass, got {cls!r}")
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name:
        raise ValueError(f"{cls.__name__}.name must be a non-empty string, got {name!r}")
    if name in _REGIMES:
        raise ValueError(f"a training regime named {name!r} is already registered "
                         f"({_REGIMES[name].__name__})")
    _REGIMES[name] = cls
    return cls


def get_regime(name: str) -> type[Regime]:
    """The regime class registered as ``name``."""
    try:
        return _REGIMES[name]
    except (KeyError, TypeError):
        raise ValueError(f"regime={name!r}; accepted: one of {list_regimes()}") from None


def list_regimes() -> tuple[str, ...]:
    """The registered regime names, in registration order."""
    return tuple(_REGIMES)


from .cycle import PsfCycleGan  # noqa: E402 - the regimes import Regime from .base
from .gan import GranGan  # noqa: E402
from .semi_supervised import SemiSupervised  # noqa: E402
from .supervised import Supervised  # noqa: E402

register_regime(Supervised)
register_regime(GranGan)
register_regime(SemiSupervised)
register_regime(PsfCycleGan)
