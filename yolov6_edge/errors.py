"""The one exception type users see.

Every problem caused by the user's input (a file, an argument, a model of the wrong kind) is raised as
`Yolov6EdgeError` with a one-line message that names the file and the problem; the CLI prints that line
and exits 2 instead of showing a traceback.
"""


class Yolov6EdgeError(Exception):
    """A problem with the user's input, explained in one line."""


def fail(path, problem: str) -> "Yolov6EdgeError":
    """Build the standard message: '<path>: <problem>'."""
    return Yolov6EdgeError(f"{path}: {problem}")
