"""Isolation: what one run changes in its process, put back before the next run there sees it.

A warm pool worker runs many configs in one process; each run must see the process as a
fresh one would (``SNAKESWEEP_NO_POOL=1``: a process per run). Around every run,
``isolated_run`` restores

* the working directory, ``sys.path``, ``sys.argv``, ``sys.meta_path``, ``sys.path_hooks``
  and the recursion limit;
* the environment (``os.environ``) and the umask;
* the warnings filters and ``warnings.showwarning`` (and forgets which warnings were shown,
  so each run shows its own);
* logging: the level, handlers, filters, ``propagate`` and ``disabled`` of every logger that
  existed before the run, ``logging.disable``; a logger the run created is reset to a new
  logger's state, unless it is named after a module first imported in the run (a library
  that set up its logger at import);
* the handlers of the standard signals (not the real-time ones), the signal mask and
  interval timers (``signal.alarm``);
* the locale (every category), the C library's time zone (``time.tzset`` when the run
  changed it, or ``TZ``) and the garbage collector (enabled, thresholds);
* the interpreter's settings: the switch interval, the limit on digits of ``int``/``str``
  conversions, ``sys.dont_write_bytecode``, ``sys.excepthook`` and ``threading.excepthook``,
  and ``socket``'s default timeout;
* context variables: the run runs in a copy of the context (numpy's ``np.seterr`` and print
  options live there), and ``decimal``'s context, which a run changes in place, is put back;
* the global random generators of ``random`` and ``numpy.random``: each run starts from the
  state a fresh process that imports the experiment has: the state the import left when it
  seeded the generator (``np.random.seed(0)`` at module level), fresh entropy when not. Runs
  never share a stream, nor continue one another's.

What cannot be put back makes the process unfit for another run (``unrestored``): a module
that existed before the run and was removed, replaced or reloaded in it (the next run
would see other code than the one imported at warm-up), a working directory the run
removed. The pool then retires the worker, as it does one whose run left a thread running.

Everything else is shared by the runs of one worker: module-level state (globals, caches,
objects the experiment keeps, attributes added to ``builtins``), modules a run imported
first, open files, resource limits, the nice value, child processes, trace and profile
functions, and the state of C libraries (their own random generators, such as torch's;
environment variables set from C).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import gc
import locale
import logging
import os
import random
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

try:  # a signal's handler as it is set, compared by identity (signal.getsignal makes enums)
    from _signal import getsignal as _getsignal
except ImportError:  # pragma: no cover - CPython has it
    _getsignal = signal.getsignal

# numpy.random (heavy) is imported at warm-up, which loads numpy anyway, and else only once
# a run has loaded it: importing this module, or a run without numpy, does not pay for it.

__all__ = ["isolated_run", "run_in_copied_context", "seeding_at_import", "unrestored"]

_LOCALE_CATEGORIES = tuple(
    getattr(locale, name)
    for name in ("LC_CTYPE", "LC_COLLATE", "LC_TIME", "LC_MONETARY", "LC_NUMERIC", "LC_MESSAGES")
    if hasattr(locale, name)
)
_SIGNALS = tuple(
    s
    for s in signal.valid_signals()  # the real-time ones are left alone
    if s not in (signal.SIGKILL, signal.SIGSTOP) and s < getattr(signal, "SIGRTMIN", signal.NSIG)
)
_TIMERS = tuple(
    getattr(signal, name)
    for name in ("ITIMER_REAL", "ITIMER_VIRTUAL", "ITIMER_PROF")
    if hasattr(signal, name)
)

_random_starts: dict[str, Any] = {}
"""The state each global generator starts a run with, when the experiment's import seeded it
(``"random"``, ``"numpy"``); a generator not here starts each run from fresh entropy."""

_unrestored: list[str] = []
"""What the last run changed that could not be put back."""


def unrestored() -> list[str]:
    """What the last run changed in this process that could not be put back (empty: the
    process is fit for another run)."""
    return list(_unrestored)


@contextmanager
def seeding_at_import() -> Iterator[None]:
    """Around the warm-up import of the experiment: a global generator that the import
    seeds (``random.seed``, ``random.setstate``, ``numpy.random.seed``, ``set_state``)
    starts every run in the state the import left it in, as a fresh process that imports
    the experiment would."""
    seeded: set[str] = set()
    patched: list[tuple[Any, str, Any]] = []
    import numpy.random  # a dependency of snakesweep; numpy imports it only when used

    owners: list[tuple[str, Any, tuple[str, ...]]] = [
        ("random", random, ("seed", "setstate")),
        ("numpy", numpy.random, ("seed", "set_state")),
        ("numpy", numpy.random.mtrand, ("seed", "set_state")),
    ]
    for key, owner, names in owners:
        for name in names:
            original = getattr(owner, name)
            patched.append((owner, name, original))
            setattr(owner, name, _noting(seeded, key, original))
    try:
        yield
    finally:
        for owner, name, original in reversed(patched):
            setattr(owner, name, original)
        _random_starts.clear()
        _random_starts.update({key: _random_state(key) for key in seeded})


def _noting(seeded: set[str], key: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def seeding(*args: Any, **kwargs: Any) -> Any:
        seeded.add(key)
        return fn(*args, **kwargs)

    return seeding


def _random_state(key: str) -> Any:
    if key == "numpy":
        import numpy.random

        return numpy.random.get_state()
    return random.getstate()


def _start_random() -> None:
    """Put the global generators in the state a run starts with (see ``seeding_at_import``):
    fresh entropy is 128 bits from the OS for each (``np.random.seed()`` would take 8 times
    as long, for the same independence)."""
    entropy = os.urandom(32)
    if "random" in _random_starts:
        random.setstate(_random_starts["random"])
    else:
        random.seed(int.from_bytes(entropy[:16], "little"))
    if "numpy.random" in sys.modules:  # a run that imports it first gets fresh entropy anyway
        import numpy
        import numpy.random

        if "numpy" in _random_starts:
            numpy.random.set_state(_random_starts["numpy"])
        else:
            numpy.random.seed(numpy.frombuffer(entropy[16:], dtype=numpy.uint32))


@contextmanager
def isolated_run() -> Iterator[None]:
    """Run a config: its changes to this process (see the module's docstring) are put back
    when it ends, and it starts with its own random state."""
    state = _ProcessState.capture()
    _start_random()
    try:
        yield
    finally:
        state.restore()


def run_in_copied_context(fn: Callable[[], Any]) -> Any:
    """``fn()`` in a copy of the current context: context variables it sets stay there."""
    return contextvars.copy_context().run(fn)


class _ProcessState:
    """The parts of a process's state that a run may change and the next run must not see."""

    def __init__(self) -> None:
        self.cwd = os.getcwd()
        self.path = list(sys.path)
        self.argv = list(sys.argv)
        self.meta_path = list(sys.meta_path)
        self.path_hooks = list(sys.path_hooks)
        self.recursion_limit = sys.getrecursionlimit()
        self.environ = dict(_environ_data())
        self.umask = os.umask(0o022)
        os.umask(self.umask)
        self.module_names = list(sys.modules)
        self.loggers = _logger_states()
        self.logger_count = len(logging.root.manager.loggerDict)
        self.logging_disable = logging.root.manager.disable
        self.handlers = [_getsignal(s) for s in _SIGNALS]
        self.mask = signal.pthread_sigmask(signal.SIG_BLOCK, [])
        self.timers = [signal.getitimer(t) for t in _TIMERS]
        self.locale = [locale.setlocale(c) for c in _LOCALE_CATEGORIES]
        self.gc = (gc.isenabled(), gc.get_threshold())
        self.time_zone = (time.timezone, time.altzone, time.daylight, time.tzname)
        self.interpreter = _interpreter_settings()
        decimal = sys.modules.get("decimal")  # its context is changed in place
        self.decimal = None if decimal is None else decimal.getcontext().copy()
        self.warnings = warnings.catch_warnings()
        self.warnings.__enter__()

    @classmethod
    def capture(cls) -> _ProcessState:
        """The state of this process now."""
        return cls()

    def restore(self) -> None:
        """Put the state back; what cannot be is listed in ``unrestored()``."""
        _unrestored.clear()
        for step in (
            self._restore_warnings,
            self._restore_directory,
            self._restore_sys,
            self._restore_gc,
            self._restore_environment,
            self._restore_logging,
            self._restore_signals,
            self._restore_locale,
            self._restore_time_zone,
            self._restore_interpreter,
            self._restore_decimal,
            self._check_modules,
        ):
            try:
                step()
            except Exception as exc:  # noqa: BLE001 - the process is not reused
                _unrestored.append(f"{step.__name__}: {type(exc).__name__}: {exc}")

    def _restore_warnings(self) -> None:
        self.warnings.__exit__(None, None, None)

    def _restore_directory(self) -> None:
        os.chdir(self.cwd)  # a directory the run removed: the worker is not reused

    def _restore_sys(self) -> None:
        lists: tuple[tuple[list[Any], list[Any]], ...] = (
            (sys.path, self.path),
            (sys.argv, self.argv),
            (sys.meta_path, self.meta_path),
            (sys.path_hooks, self.path_hooks),
        )
        for current, saved in lists:
            if current != saved:
                current[:] = saved
        if sys.getrecursionlimit() != self.recursion_limit:
            sys.setrecursionlimit(self.recursion_limit)

    def _restore_gc(self) -> None:
        enabled, threshold = self.gc
        if gc.get_threshold() != threshold:
            gc.set_threshold(*threshold)
        if gc.isenabled() != enabled:
            (gc.enable if enabled else gc.disable)()

    def _restore_time_zone(self) -> None:
        # after the environment, whose TZ tzset reads (a run set it and called tzset)
        if (time.timezone, time.altzone, time.daylight, time.tzname) != self.time_zone:
            time.tzset()

    def _restore_interpreter(self) -> None:
        if _interpreter_settings() == self.interpreter:
            return
        switch, digits, bytecode, hook, thread_hook, timeout = self.interpreter
        sys.setswitchinterval(switch)
        if digits is not None:
            sys.set_int_max_str_digits(digits)
        sys.dont_write_bytecode = bytecode
        sys.excepthook = hook
        threading.excepthook = thread_hook
        if "socket" in sys.modules:
            sys.modules["socket"].setdefaulttimeout(timeout)

    def _restore_decimal(self) -> None:
        if self.decimal is not None:
            sys.modules["decimal"].setcontext(self.decimal.copy())

    def _restore_environment(self) -> None:
        os.umask(self.umask)
        data = _environ_data()
        if data == self.environ:
            return
        environ = os.environ
        decode = os.fsdecode
        for key in [k for k in data if k not in self.environ]:
            del environ[decode(key)]
        for key, value in self.environ.items():
            if data.get(key) != value:
                environ[decode(key)] = decode(value)

    def _restore_logging(self) -> None:
        manager = logging.root.manager
        if len(manager.loggerDict) != self.logger_count:  # the run created loggers
            before = {id(state[0]) for state in self.loggers}
            imported = set(sys.modules).difference(self.module_names)
            for logger in _loggers():
                if id(logger) not in before and logger.name not in imported:
                    logger.setLevel(logging.NOTSET)  # clears the loggers' level caches
                    logger.handlers.clear()
                    logger.filters.clear()
                    logger.propagate, logger.disabled = True, False
        for logger, level, handlers, filters, propagate, disabled in self.loggers:
            if logger.level != level:
                logger.setLevel(level)
            if logger.handlers != handlers:
                for handler in logger.handlers:
                    if handler not in handlers:
                        with contextlib.suppress(Exception):
                            handler.flush()
                logger.handlers[:] = handlers
            if logger.filters != filters:
                logger.filters[:] = filters
            logger.propagate, logger.disabled = propagate, disabled
        if manager.disable != self.logging_disable:
            logging.disable(self.logging_disable)

    def _restore_signals(self) -> None:
        for sig, handler in zip(_SIGNALS, self.handlers, strict=True):
            if handler is not None and _getsignal(sig) is not handler:
                signal.signal(sig, handler)
        for timer, (delay, interval) in zip(_TIMERS, self.timers, strict=True):
            if signal.getitimer(timer) != (delay, interval) and delay == interval == 0:
                signal.setitimer(timer, 0)
        if signal.pthread_sigmask(signal.SIG_BLOCK, []) != self.mask:
            signal.pthread_sigmask(signal.SIG_SETMASK, self.mask)

    def _restore_locale(self) -> None:
        for category, saved in zip(_LOCALE_CATEGORIES, self.locale, strict=True):
            if locale.setlocale(category) != saved:
                locale.setlocale(category, saved)

    def _check_modules(self) -> None:
        """A module removed, replaced or reloaded since the run began is listed as
        unrestored: each changes the order of ``sys.modules`` (``importlib.reload`` and an
        import after a removal put the module's entry last)."""
        count = len(self.module_names)
        names = list(sys.modules)
        if names[:count] == self.module_names:
            return
        moved = next(
            (saved for saved, now in zip(self.module_names, names, strict=False) if saved != now),
            self.module_names[min(len(names), count - 1)],
        )
        _unrestored.append(f"a module removed, replaced or reloaded: {moved!r}")


def _interpreter_settings() -> tuple[Any, ...]:
    """The interpreter's settings a run may change (``_ProcessState._restore_interpreter``)."""
    socket = sys.modules.get("socket")
    digits = getattr(sys, "get_int_max_str_digits", None)  # Python 3.11 and later
    return (
        sys.getswitchinterval(),
        None if digits is None else digits(),
        sys.dont_write_bytecode,
        sys.excepthook,
        threading.excepthook,
        None if socket is None else socket.getdefaulttimeout(),
    )


def _environ_data() -> dict[Any, Any]:
    """The mapping behind ``os.environ`` (encoded keys and values): copied and compared
    without decoding every entry, as ``os.environ.copy()`` does (20 times slower)."""
    data = getattr(os.environ, "_data", None)
    return (
        data
        if isinstance(data, dict)
        else {os.fsencode(k): os.fsencode(v) for k, v in os.environ.items()}
    )


def _loggers() -> list[logging.Logger]:
    loggers: list[logging.Logger] = [logging.root]
    loggers.extend(
        logger
        for logger in list(logging.root.manager.loggerDict.values())
        if isinstance(logger, logging.Logger)
    )
    return loggers


def _logger_states() -> list[tuple[logging.Logger, int, list[Any], list[Any], bool, bool]]:
    return [
        (
            logger,
            logger.level,
            list(logger.handlers),
            list(logger.filters),
            logger.propagate,
            logger.disabled,
        )
        for logger in _loggers()
    ]
