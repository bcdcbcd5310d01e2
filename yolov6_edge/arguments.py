"""One validation layer for argument values: the Python API checks them with these before any work, and the
CLI's argparse types (cli/checks.py) call the same functions, so both refuse the same values in the same words.

Each check returns the value in its plain Python type, or raises a one-line Yolov6EdgeError
'<where>: <name> must be ..., got <value>' (`where` defaults to the argument's name).
"""
import math
import numbers

from .errors import fail

# Seeds: what numpy, torch and random all accept.
MAX_SEED = 2**63 - 1
# Stream sources: a URL that has not answered in a day will not; a reconnect count past this is a typo.
MAX_TIMEOUT_S = 86_400.0
MAX_RECONNECT = 100_000


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def integer(value, name, minimum=None, maximum=None, where=None) -> int:
    """A whole number (not a bool, not 2.0) within [minimum, maximum]."""
    if not _is_int(value):
        raise fail(where or name, f"{name} must be a whole number{_range(minimum, maximum)}, got {value!r:.60}")
    value = int(value)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise fail(where or name, f"{name} must be a whole number{_range(minimum, maximum)}, got {value}")
    return value


def number(value, name, minimum=None, maximum=None, where=None, above=None, allow_inf=False) -> float:
    """A finite real number (inf only with allow_inf; never NaN) within [minimum, maximum] and > above."""
    if not _is_number(value):
        raise fail(where or name, f"{name} must be a number{_range(minimum, maximum, above)}, got {value!r:.60}")
    value = float(value)
    if math.isnan(value) or (math.isinf(value) and not allow_inf):
        raise fail(where or name, f"{name} must be a {'' if allow_inf else 'finite '}number"
                                  f"{_range(minimum, maximum, above)}, got {value}")
    if ((minimum is not None and value < minimum) or (maximum is not None and value > maximum)
            or (above is not None and not value > above)):
        raise fail(where or name, f"{name} must be a number{_range(minimum, maximum, above)}, got {value:g}")
    return value


def _range(minimum=None, maximum=None, above=None) -> str:
    def show(v):
        return str(v) if isinstance(v, int) else f"{v:g}"

    low = f"> {show(above)}" if above is not None else (f">= {show(minimum)}" if minimum is not None else None)
    if low and maximum is not None:
        return f" {low} and <= {show(maximum)}"
    if low:
        return f" {low}"
    return f" <= {show(maximum)}" if maximum is not None else ""


def fraction(value, name, where=None) -> float:
    """A threshold in [0, 1] (confidence, IoU, a probability)."""
    return number(value, name, 0.0, 1.0, where)


def seconds(value, name, where=None, maximum=MAX_TIMEOUT_S) -> float:
    """A positive, finite duration (at most a day by default)."""
    return number(value, name, where=where, above=0.0, maximum=maximum)


def seed(value, name="seed", where=None) -> int:
    return integer(value, name, 0, MAX_SEED, where)


def boolean(value, name, where=None) -> bool:
    if not isinstance(value, bool):
        raise fail(where or name, f"{name} must be true or false, got {value!r:.60}")
    return value


def choice(value, name, choices, where=None):
    if not isinstance(value, str) or value not in choices:
        raise fail(where or name, f"{name} must be one of {', '.join(choices)}, got {value!r:.60}")
    return value


def percentile(value, name="percentile", where=None) -> float:
    """A calibration percentile in percent, (50, 100]. 0.9999 is refused with a hint: it reads as a fraction
    (99.99 %) but means 0.9999 % of the values, which clips every activation to almost nothing."""
    value = number(value, name, where=where)
    if 0 < value <= 1:
        raise fail(where or name, f"{name} is in percent (50..100), got {value:g}: for {value * 100:g} % write "
                                  f"{value * 100:g}")
    if not 50 < value <= 100:
        raise fail(where or name, f"{name} must lie in (50, 100] percent (usual: 99.9 .. 99.999), got {value:g}")
    return value
