"""Flags for a person: code that reaches into the grader, the kernel, the files or the network.

The grade never depends on them; they go to the CSV's ``notes`` column.
"""

from __future__ import annotations

import ast

from autograder.reach_source import python_source

SUSPICIOUS_NAMES = {
    "get_ipython": "uses IPython's internals (get_ipython)",
    "In": "reads the kernel's input history (In)",
    "Out": "reads the kernel's output history (Out)",
    "_ih": "reads the kernel's input history (_ih)",
    "_oh": "reads the kernel's output history (_oh)",
    "__builtins__": "changes Python's builtins",
    "builtins": "changes Python's builtins",
    "ctypes": "uses ctypes (raw memory access)",
    "gc": "walks the interpreter's objects (gc)",
    "importlib": "reloads or replaces modules (importlib)",
    "socket": "uses the network (socket)",
    "urllib": "uses the network (urllib)",
    "requests": "uses the network (requests)",
    "subprocess": "runs other programs (subprocess)",
    "signal": "handles or sends signals",
    "threading": "starts threads",
    "multiprocessing": "starts processes (multiprocessing)",
}
SUSPICIOUS_ATTRIBUTES = {
    "settrace": "installs a trace function",
    "setprofile": "installs a profile function",
    "_getframe": "inspects the caller's frames",
    "currentframe": "inspects the caller's frames",
    "f_back": "inspects the caller's frames",
    "f_globals": "inspects the caller's frames",
    "f_locals": "inspects the caller's frames",
    "stack": None,  # inspect.stack only, checked below
    "modules": None,  # sys.modules only
    "excepthook": "replaces the exception display (excepthook)",
    "displayhook": "replaces the display hook",
    "showtraceback": "replaces IPython's traceback display",
    "_showtraceback": "replaces IPython's traceback display",
    "set_custom_exc": "installs IPython exception handlers",
    "run_cell": "wraps IPython's cell execution",
    "run_code": "wraps IPython's cell execution",
    "__code__": "rewrites a function's code",
    "__globals__": "reaches into a function's globals",
    "_exit": "ends the kernel's process (os._exit)",
    "kill": "sends signals to processes",
    "killpg": "sends signals to processes",
    "fork": "forks the process",
    "system": "runs shell commands",
    "popen": "runs shell commands",
    "execv": "replaces the process",
    "execve": "replaces the process",
    "meta_path": "changes how modules are imported",
    "addaudithook": "installs an audit hook",
}
COMPARISON_DUNDERS = {
    "__eq__",
    "__ne__",
    "__lt__",
    "__le__",
    "__gt__",
    "__ge__",
    "__bool__",
    "__array_ufunc__",
    "__array_function__",
    "__torch_function__",
    "__instancecheck__",
}
CALLS = {
    "exec": "runs code built at run time (exec)",
    "eval": "runs code built at run time (eval)",
    "compile": "compiles code at run time",
    "__import__": "imports modules by name at run time",
    "setattr": None,  # on a module only, checked below
    "exit": "stops the kernel (exit)",
    "quit": "stops the kernel (quit)",
}
PATH_WORDS = (
    "solutions",
    "gradebook",
    "autograded",
    "source/",
    "/work",
    "/home",
    "/root",
    "/tmp",
    "..",
)


def screen(sources: list[tuple[str, str]]) -> list[str]:
    """Plain-words flags for the student's code cells (``(label, source)`` pairs).

    The grade does not depend on them: they point a person at code that reaches into the grader,
    the kernel, the file system or the network, which honest answers rarely need.
    """
    flags: dict[str, list[str]] = {}

    def flag(text: str, label: str) -> None:
        flags.setdefault(text, [])
        if label not in flags[text]:
            flags[text].append(label)

    for label, source in sources:
        try:
            tree = ast.parse(python_source(source))
        except (SyntaxError, ValueError):
            continue
        modules = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    modules.add(alias.asname or alias.name.split(".")[0])
                    _flag_name(alias.name.split(".")[0], label, flag)
            elif isinstance(node, ast.ImportFrom) and node.module:
                _flag_name(node.module.split(".")[0], label, flag)
                for alias in node.names:
                    if alias.name in SUSPICIOUS_ATTRIBUTES and SUSPICIOUS_ATTRIBUTES[alias.name]:
                        flag(SUSPICIOUS_ATTRIBUTES[alias.name], label)
            elif isinstance(node, ast.Name):
                _flag_name(node.id, label, flag)
                if node.id in CALLS and CALLS[node.id]:
                    flag(CALLS[node.id], label)
            elif isinstance(node, ast.Attribute):
                text = SUSPICIOUS_ATTRIBUTES.get(node.attr)
                base = node.value.id if isinstance(node.value, ast.Name) else ""
                if node.attr == "modules" and base == "sys":
                    text = "changes or reads sys.modules"
                elif node.attr == "stack" and base == "inspect":
                    text = "inspects the caller's frames"
                if text:
                    flag(text, label)
            elif isinstance(node, ast.ClassDef):
                for item in node.body:
                    names = []
                    if isinstance(item, ast.FunctionDef):
                        names = [item.name]
                    elif isinstance(item, ast.Assign):
                        names = [t.id for t in item.targets if isinstance(t, ast.Name)]
                    for name in names:
                        if name in COMPARISON_DUNDERS:
                            flag(f"defines {name} (class {node.name})", label)
            elif isinstance(node, (ast.Assign, ast.AugAssign, ast.Delete)):
                targets = (
                    node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
                )
                for target in targets:
                    root = target
                    while isinstance(root, (ast.Attribute, ast.Subscript)):
                        root = root.value
                    if isinstance(target, ast.Attribute) and isinstance(root, ast.Name):
                        if root.id in modules:
                            flag(f"changes the library attribute {ast.unparse(target)}", label)
                    if isinstance(target, ast.Attribute) and target.attr in COMPARISON_DUNDERS:
                        flag(f"sets {ast.unparse(target)}", label)
            elif isinstance(node, ast.Call):
                name = node.func.id if isinstance(node.func, ast.Name) else ""
                if name == "setattr" and node.args:
                    first = node.args[0]
                    if isinstance(first, ast.Name) and first.id in modules:
                        flag(f"changes attributes of the library {first.id} (setattr)", label)
                if name == "open" or (
                    isinstance(node.func, ast.Attribute)
                    and node.func.attr
                    in (
                        "open",
                        "read_text",
                        "read_bytes",
                        "write_text",
                        "write_bytes",
                        "listdir",
                        "walk",
                        "glob",
                        "rglob",
                        "scandir",
                        "iterdir",
                    )
                ):
                    for arg in node.args[:1]:
                        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                            if any(word in arg.value for word in PATH_WORDS):
                                flag(f"opens or lists {arg.value[:60]!r}", label)
                        elif not isinstance(arg, ast.Constant):
                            flag("opens or lists files by computed paths", label)
    return [f"{text} ({', '.join(labels)})" for text, labels in sorted(flags.items())]


def _flag_name(name: str, label: str, flag) -> None:
    text = SUSPICIOUS_NAMES.get(name)
    if text:
        flag(text, label)
