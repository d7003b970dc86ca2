"""The ``snakesweep`` command: ``entry`` (``main``: arguments in, exit status out),
``parser`` (each command's arguments and help), and the commands by what they own:
``status`` (plan, status), ``runs`` (runs, show), ``run`` (run, report), ``view``, ``dvc``
(pull, history), ``init``, ``completion`` (the shell's script, the keys it asks for);
``live`` is ``run --view``. ``sweep``, ``table`` and ``command``
hold what several commands share."""

from snakesweep.cli.entry import main

__all__ = ["main"]
