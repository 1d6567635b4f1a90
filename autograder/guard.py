"""The grader's helper inside the student's kernel: keep the tests honest where the student's code runs.

nbgrader's format runs the instructor's test cells in the same Python process as the student's code,
so a notebook can try to make failing tests look passed. The grader sends this file's source to the
kernel before the first cell (``install``), then around every test cell:

- ``before``: undo what the notebook changed in the libraries the tests rely on (module attributes,
  class attributes, function code of numpy, torch, ..., the builtins, ``sys.modules``), and in IPython's
  machinery (traceback display, exception handlers, input and AST transformers, event callbacks,
  trace functions);
- the test cell itself is rewritten by the grader (``autograder.assemble``) so that every value it
  compares, asserts or passes to a function goes through ``check``: an object whose class, written
  in the notebook, defines its own ``==`` (or ``__bool__``, ``__array_ufunc__``, ...) is rejected
  (``UntrustedAnswer``), and the cell's last statement calls ``done`` so that the grader knows the
  cell ran to its end, whatever the kernel displays;
- ``after``: check that nothing was changed while the test ran (if so, the test does not count).

Every report carries an HMAC with a key the grader sent with ``install``, so a stand-in written by
the notebook cannot answer for the guard. This raises the bar; it is not a proof against code that
rewrites the interpreter's memory (``ctypes``), which the grader's static screening reports.

This module must stay self-contained: it runs in the kernel, where ``autograder`` is not importable.
"""

import builtins
import hashlib
import hmac
import json
import sys
import types
import warnings

DANGEROUS = tuple(
    sorted(
        {
            "__eq__",
            "__ne__",
            "__lt__",
            "__le__",
            "__gt__",
            "__ge__",
            "__bool__",
            "__sub__",
            "__rsub__",
            "__abs__",
            "__neg__",
            "__array_ufunc__",
            "__array_function__",
            "__torch_function__",
            "__torch_dispatch__",
            "__class__",
            "__getattribute__",
            "__instancecheck__",
            "__subclasscheck__",
        }
    )
)
C_IMPLEMENTED = (
    type(object.__eq__),  # wrapper_descriptor
    type(object().__eq__),  # method-wrapper
    type(str.join),  # method_descriptor
    type(len),  # builtin_function_or_method
    type(int.real),  # getset_descriptor
    type(type.__dict__["__mro__"]),  # member_descriptor
    type(dict.__dict__["fromkeys"]),  # classmethod_descriptor
)
MISSING = object()
# builtins that IPython itself sets and removes around each execution
IPYTHON_BUILTINS = frozenset(
    {"_", "__", "___", "get_ipython", "input", "exit", "quit", "display", "getpass", "__IPYTHON__"}
)
MAX_ITEMS = 10_000
_mro_of = type.__dict__["__mro__"].__get__
_dict_of = type.__dict__["__dict__"].__get__
_qualname_of = type.__dict__["__qualname__"].__get__
_type = type
_isinstance = isinstance
_id = id
_len = len
_str = str
_tuple = tuple
_list_iter = list.__iter__
_tuple_iter = tuple.__iter__
_dict_items = dict.items


class UntrustedAnswer(AssertionError):
    """A value reached a test that the tests cannot trust (it defines its own comparisons)."""


class Checker:
    """What the rewritten test cells call (under a random name in the notebook's namespace)."""

    def __init__(self, trusted_roots):
        self._roots = tuple(r.rstrip("/") + "/" for r in trusted_roots)
        self._verdicts = {}  # id(type) -> (type, reason or None)
        self._done = set()
        self.rejected = []

    # -- values ------------------------------------------------------------------------------
    def v(self, value, _depth=0):
        """Return ``value`` if a test may rely on it; raise ``UntrustedAnswer`` otherwise."""
        kind = _type(value)
        if kind in (int, float, bool, str, bytes, complex, type(None)):
            return value
        reason = self._type_reason(kind)
        if reason:
            self.rejected.append(reason)
            raise UntrustedAnswer(f"the tests cannot accept this answer: {reason}")
        if _depth < 3:
            self._check_items(value, kind, _depth)
        return value

    def t(self, value):
        """An ``assert``/``if``/``while`` condition."""
        return self.v(value)

    def done(self, token):
        """The last statement of a test cell: the cell ran to its end."""
        self._done.add(token)

    def _check_items(self, value, kind, depth):
        mro = _mro_of(kind)
        items = None
        if list in mro:
            items = _list_iter(value)
        elif tuple in mro:
            items = _tuple_iter(value)
        elif dict in mro:
            items = (x for pair in _dict_items(value) for x in pair)
        elif set in mro or frozenset in mro:
            items = set.__iter__(value) if set in mro else frozenset.__iter__(value)
        else:
            numpy = sys.modules.get("numpy")
            if numpy is not None and numpy.ndarray in mro:
                base = numpy.ndarray
                if base.dtype.__get__(value).kind == "O":
                    items = iter(base.tolist(base.ravel(value)))
        if items is None:
            return
        for count, item in enumerate(items):
            if count >= MAX_ITEMS:
                break
            self.v(item, depth + 1)

    def _type_reason(self, kind):
        key = _id(kind)
        cached = self._verdicts.get(key)
        if cached is not None and cached[0] is kind:
            return cached[1]
        reason = None
        library = True
        for klass in _mro_of(kind):
            library = library and self.trusted_class(klass)
            namespace = _dict_of(klass)
            for name in DANGEROUS:
                if name in namespace and not self._trusted_attr(namespace[name]):
                    qualname = _qualname_of(klass)
                    if _type(qualname) is not str:
                        qualname = "?"
                    reason = f"its class {qualname} defines its own {name}"
                    break
            if reason:
                break
        if library:  # a class of the notebook may still change: check it every time
            self._verdicts[key] = (kind, reason)
        return reason

    def trusted_class(self, klass):
        """Defined by Python or by an installed library (not by the notebook)."""
        module_name = _dict_of(klass).get("__module__")
        if _type(module_name) is not str:
            return False
        if module_name == "builtins":
            return True
        module = sys.modules.get(module_name)
        filename = getattr(module, "__file__", None) if module is not None else None
        if _type(filename) is not str:
            return module_name in sys.builtin_module_names
        return filename.startswith(self._roots)

    def trusted_object(self, obj):
        """A function or object whose code comes from Python or an installed library."""
        if _isinstance(obj, C_IMPLEMENTED):
            return True
        function = getattr(obj, "__func__", obj) if _type(obj) is types.MethodType else obj
        if _type(function) is types.FunctionType:
            return self._trusted_attr(function)
        return self.trusted_class(_type(obj))

    def _trusted_attr(self, attr):
        if _isinstance(attr, C_IMPLEMENTED):
            return True
        if _type(attr) in (staticmethod, classmethod):
            attr = attr.__func__
        if _type(attr) is property:
            attr = attr.fget
        if _type(attr) is types.FunctionType:
            code = attr.__code__
            filename = code.co_filename
            if _type(filename) is not str:
                return False
            if filename.startswith(self._roots):
                return True
            # dataclasses write their __eq__ with exec(): field by field, it cannot fake equality
            return filename == "<string>" and "__create_fn__" in code.co_qualname
        return attr is None  # __hash__ = None and the like


class Guard:
    """Snapshots taken before any student code ran; restore and compare around each test cell."""

    def __init__(self, key, checker_name, packages, trusted_roots):
        self._key = key.encode()
        self.checker_name = checker_name
        self.checker = Checker(trusted_roots)
        self._packages = tuple(packages)
        self._shell = None
        self._ipython = {}
        self._sys = {}
        self._modules = {}
        self._module_dicts = []
        self._class_dicts = []
        self._functions = []

    # -- set-up ------------------------------------------------------------------------------
    def snapshot(self):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self._snapshot()

    def _wanted(self, name):
        top = name.split(".", 1)[0]
        return top in self._packages

    def _snapshot(self):
        seen_classes = set()
        for name, module in list(sys.modules.items()):
            if not _isinstance(module, types.ModuleType) or not self._wanted(name):
                continue
            self._modules[name] = module
            namespace = dict(module.__dict__)
            self._module_dicts.append((name, module, namespace))
            for key, value in namespace.items():
                if _type(value) is types.FunctionType:
                    self._functions.append(
                        (
                            f"{name}.{key}",
                            value,
                            value.__code__,
                            value.__defaults__,
                            value.__kwdefaults__,
                        )
                    )
                elif _isinstance(value, type) and _id(value) not in seen_classes:
                    owner = _dict_of(value).get("__module__")
                    if owner == name:
                        seen_classes.add(_id(value))
                        self._snapshot_class(f"{name}.{key}", value)
        self._sys = {
            "excepthook": sys.excepthook,
            "displayhook": sys.displayhook,
            "stdout": sys.stdout,
            "stderr": sys.stderr,
            "meta_path": list(sys.meta_path),
            "path_hooks": list(sys.path_hooks),
        }
        self._snapshot_ipython()

    def _snapshot_class(self, label, klass):
        namespace = dict(_dict_of(klass))
        self._class_dicts.append((label, klass, namespace))
        for key, value in namespace.items():
            if _type(value) in (staticmethod, classmethod):
                value = value.__func__
            if _type(value) is types.FunctionType:
                self._functions.append(
                    (
                        f"{label}.{key}",
                        value,
                        value.__code__,
                        value.__defaults__,
                        value.__kwdefaults__,
                    )
                )

    def _snapshot_ipython(self):
        get_ipython = getattr(builtins, "get_ipython", None)
        shell = get_ipython() if get_ipython else None
        if shell is None:
            return
        self._shell = shell
        objects = {
            "shell": shell,
            "kernel": getattr(shell, "kernel", None),
            "displayhook": getattr(shell, "displayhook", None),
            "display_pub": getattr(shell, "display_pub", None),
            "compile": getattr(shell, "compile", None),
            "events": getattr(shell, "events", None),
        }
        self._ipython = {
            "objects": {k: (o, dict(getattr(o, "__dict__", {}))) for k, o in objects.items() if o},
            "callbacks": {k: list(v) for k, v in shell.events.callbacks.items()},
            "ast_transformers": list(shell.ast_transformers),
            "input_transformers_cleanup": list(shell.input_transformers_cleanup),
            "input_transformers_post": list(shell.input_transformers_post),
            "itm": shell.input_transformer_manager,
            "itm_lists": {
                k: list(getattr(shell.input_transformer_manager, k))
                for k in ("cleanup_transforms", "line_transforms", "token_transformers")
                if _isinstance(getattr(shell.input_transformer_manager, k, None), list)
            },
            "custom_exceptions": shell.custom_exceptions,
            "CustomTB": shell.CustomTB,
            "InteractiveTB": shell.InteractiveTB,
            "SyntaxTB": shell.SyntaxTB,
            "shell_handlers": dict(getattr(objects["kernel"], "shell_handlers", {}) or {}),
            "control_handlers": dict(getattr(objects["kernel"], "control_handlers", {}) or {}),
        }

    # -- around each test cell ---------------------------------------------------------------
    def before(self, nonce):
        """Undo changes; put the checker in place; return a signed report."""
        try:
            changes = self._restore()
            self._shell.user_ns[self.checker_name] = self.checker
            self.checker.rejected = []
            return self._sign(nonce, {"changed": changes})
        except BaseException as error:  # noqa: BLE001 - report, never raise into the kernel
            return self._sign(nonce, {"changed": [], "error": f"{type(error).__name__}: {error}"})

    def after(self, nonce, token):
        """Was the test cell run to its end, untouched? (And restore again for what follows.)"""
        try:
            ran = token in self.checker._done
            changes = self._restore()
            if self._shell.user_ns.get(self.checker_name) is not self.checker:
                changes.append("the grader's checker in the notebook's namespace")
            report = {
                "ran_to_end": ran,
                "changed": changes,
                "rejected": list(self.checker.rejected)[:5],
            }
            return self._sign(nonce, report)
        except BaseException as error:  # noqa: BLE001
            return self._sign(
                nonce,
                {"ran_to_end": False, "changed": [], "error": f"{type(error).__name__}: {error}"},
            )

    def _sign(self, nonce, report):
        body = json.dumps(report, sort_keys=True)
        mac = hmac.new(self._key, (nonce + body).encode(), hashlib.sha256).hexdigest()
        return json.dumps({"body": body, "mac": mac})

    def _restore(self):
        changes = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for name, module in self._modules.items():
                if sys.modules.get(name, MISSING) is not module:
                    sys.modules[name] = module
                    changes.append(f"sys.modules[{name!r}]")
            for name, module, saved in self._module_dicts:
                current = module.__dict__
                for key, value in saved.items():
                    now = current.get(key, MISSING)
                    if now is value or (name == "builtins" and key in IPYTHON_BUILTINS):
                        continue
                    if _isinstance(value, types.ModuleType) and _isinstance(now, types.ModuleType):
                        saved[key] = now  # a lazily loaded submodule replaced its stand-in
                        continue
                    current[key] = value
                    if not self._library_patch(value, now):
                        changes.append(f"{name}.{key}")
            for label, klass, saved in self._class_dicts:
                current = _dict_of(klass)
                for key, value in saved.items():
                    now = current.get(key, MISSING)
                    if now is not value:
                        self._set_class_attr(klass, key, value)
                        if not self._library_patch(value, now):
                            changes.append(f"{label}.{key}")
                for key in list(current):
                    if key not in saved and (key in DANGEROUS or self._inherited(klass, key)):
                        try:
                            delattr(klass, key)
                        except (AttributeError, TypeError):
                            continue
                        changes.append(f"{label}.{key}")
            for label, function, code, defaults, kwdefaults in self._functions:
                if function.__code__ is not code:
                    function.__code__ = code
                    changes.append(f"{label} (its code)")
                if function.__defaults__ is not defaults:
                    function.__defaults__ = defaults
                    changes.append(f"{label} (its defaults)")
                if function.__kwdefaults__ is not kwdefaults:
                    function.__kwdefaults__ = kwdefaults
                    changes.append(f"{label} (its defaults)")
            changes += self._restore_sys()
            changes += self._restore_ipython()
        return sorted(set(changes))

    def _library_patch(self, old, new):
        """A library's Python function replaced by another library's (torch.package does this to
        ``inspect.getfile``): undone all the same, but not the notebook's doing to report."""
        return (
            _type(old) is types.FunctionType
            and _type(new) is types.FunctionType
            and self.checker._trusted_attr(new)
            and new.__code__.co_filename != "<string>"
        )

    @staticmethod
    def _set_class_attr(klass, key, value):
        try:
            setattr(klass, key, value)
        except (AttributeError, TypeError):
            pass

    @staticmethod
    def _inherited(klass, key):
        return any(key in _dict_of(base) for base in _mro_of(klass)[1:])

    def _restore_sys(self):
        changes = []
        if sys.gettrace() is not None:
            sys.settrace(None)
            changes.append("sys.settrace")
        if sys.getprofile() is not None:
            sys.setprofile(None)
            changes.append("sys.setprofile")
        threading = sys.modules.get("threading")
        if threading is not None and getattr(threading, "_trace_hook", None) is not None:
            threading.settrace(None)
            changes.append("threading.settrace")
        for name in ("excepthook", "displayhook", "stdout", "stderr"):
            current = getattr(sys, name)
            if current is not self._sys[name]:
                setattr(sys, name, self._sys[name])
                if not self.checker.trusted_object(current):
                    changes.append(f"sys.{name}")
        for name in ("meta_path", "path_hooks"):
            current = getattr(sys, name)
            kept, dropped = self._keep_trusted(current, self._sys[name])
            if dropped or _type(current) is not list:
                setattr(sys, name, kept)
                changes.append(f"sys.{name}")
        return changes

    def _keep_trusted(self, current, saved):
        """``current`` without the entries added by the notebook (libraries may add their own)."""
        try:
            entries = list(current)
        except Exception:  # noqa: BLE001 - replaced by something that is not a list
            return list(saved), True
        kept = [x for x in entries if any(x is s for s in saved) or self.checker.trusted_object(x)]
        missing = [s for s in saved if not any(s is x for x in kept)]
        return (kept + missing), len(kept) != len(entries) or bool(missing)

    def _restore_ipython(self):
        saved = self._ipython
        shell = self._shell
        if not saved:
            return []
        changes = []
        for label, (obj, attributes) in saved["objects"].items():
            current = getattr(obj, "__dict__", None)
            if current is None:
                continue
            for key in list(current):
                value = current[key]
                if not callable(value) or self.checker.trusted_object(value):
                    continue  # IPython's own state: it changes as cells run
                if key in attributes and callable(attributes[key]):
                    current[key] = attributes[key]
                    changes.append(f"IPython {label}.{key}")
                elif callable(getattr(_type(obj), key, None)):
                    del current[key]  # the notebook's function hiding a method
                    changes.append(f"IPython {label}.{key}")
        for event, callbacks in saved["callbacks"].items():
            kept, dropped = self._keep_trusted(shell.events.callbacks.get(event, []), callbacks)
            if dropped:
                shell.events.callbacks[event] = kept
                changes.append(f"IPython event callbacks ({event})")
        for name in ("ast_transformers", "input_transformers_cleanup", "input_transformers_post"):
            kept, dropped = self._keep_trusted(getattr(shell, name), saved[name])
            if dropped:
                setattr(shell, name, kept)
                changes.append(f"IPython {name}")
        if shell.input_transformer_manager is not saved["itm"]:
            shell.input_transformer_manager = saved["itm"]
            changes.append("IPython input_transformer_manager")
        for name, value in saved["itm_lists"].items():
            kept, dropped = self._keep_trusted(getattr(saved["itm"], name), value)
            if dropped:
                setattr(saved["itm"], name, kept)
                changes.append(f"IPython input transformers ({name})")
        for name in ("custom_exceptions", "CustomTB", "InteractiveTB", "SyntaxTB"):
            if getattr(shell, name) is not saved[name]:
                setattr(shell, name, saved[name])
                changes.append(f"IPython {name}")
        kernel = getattr(shell, "kernel", None)
        for name in ("shell_handlers", "control_handlers"):
            handlers = getattr(kernel, name, None)
            if _isinstance(handlers, dict) and handlers != saved[name]:
                handlers.clear()
                handlers.update(saved[name])
                changes.append(f"ipykernel {name}")
        return changes


def install(key, checker_name, packages, trusted_roots, preload):
    """Import the libraries the tests use, take the snapshots; return the guard."""
    for name in preload:
        try:
            __import__(name)
        except Exception:  # noqa: BLE001, S112 - a test that needs it will fail on its own
            continue
    guard = Guard(key, checker_name, packages, trusted_roots)
    guard.snapshot()
    return guard
