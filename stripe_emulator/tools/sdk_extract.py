"""Run by sdk_snapshot.py in a fresh interpreter: `python sdk_extract.py SITE` prints
the schema of the stripe package found in SITE as JSON (format in sdk_snapshot.py).

Not imported by the emulator; plain script, so it reads one SDK release at a time.
"""

import ast, json, sys, types, typing, decimal
sys.path.insert(0, sys.argv[1])
import stripe

def public_names(module):
    """Names re-exported by a package __init__ (its TYPE_CHECKING imports)."""
    path = getattr(module, "__file__", None)
    if not path or not path.endswith("__init__.py"):
        return []
    tree = ast.parse(open(path).read())
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("stripe"):
            names += [a.asname or a.name for a in node.names if not (a.asname or a.name).startswith("_")]
    return names

resources = {}
def walk(pkg):
    for name in public_names(pkg):
        try:
            obj = getattr(pkg, name)
        except Exception:
            continue
        if isinstance(obj, types.ModuleType):
            if obj.__name__.startswith("stripe.") and obj.__name__ != "stripe.v2" and obj is not pkg:
                walk(obj)
        elif isinstance(obj, type) and issubclass(obj, stripe.StripeObject):
            on = obj.__dict__.get("OBJECT_NAME")
            if isinstance(on, str) and not on.startswith("v2."):
                resources.setdefault(on, obj)
walk(stripe)
by_name = {}
for cls in resources.values():
    by_name.setdefault(cls.__name__, []).append(cls)

def key_of(cls):
    on = cls.__dict__.get("OBJECT_NAME")
    if isinstance(on, str) and resources.get(on) is cls:
        return on
    top = cls.__module__ + ":" + cls.__qualname__.split(".")[0]
    owner = next((n for n, c in resources.items() if c.__module__ + ":" + c.__qualname__ == top), None)
    rest = cls.__qualname__.split(".", 1)
    if owner is None:
        return cls.__module__.removeprefix("stripe.") + ":" + cls.__qualname__
    return owner + ("." + rest[1] if len(rest) > 1 else "")

_aliases = {}
def aliases(module):
    """`from stripe.x import Card as CardResource` in a module: {"CardResource": "Card"}."""
    if module not in _aliases:
        found = {}
        path = getattr(sys.modules.get(module), "__file__", None)
        if path:
            for node in ast.walk(ast.parse(open(path).read())):
                if isinstance(node, ast.ImportFrom):
                    for a in node.names:
                        if a.asname and a.asname != a.name:
                            found[a.asname] = a.name
        _aliases[module] = found
    return _aliases[module]

class Names(dict):
    def __init__(self, scopes, module):
        super().__init__()
        self.scopes, self.module = scopes, module
    def __missing__(self, k):
        k = aliases(self.module).get(k, k)
        for scope in self.scopes:
            if k in scope:
                return scope[k]
        cands = by_name.get(k, [])
        pkg = self.module.rsplit(".", 1)[0]
        for c in cands:
            if c.__module__.rsplit(".", 1)[0] == pkg:
                return c
        if cands:
            return cands[0]
        raise KeyError(k)

classes = {}
def encode(tp, ns):
    if isinstance(tp, typing.ForwardRef):
        tp = tp.__forward_arg__
    if isinstance(tp, str):
        tp = eval(tp, dict(vars(sys.modules[ns.module])), ns)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is typing.Any: return "any"
    if tp is type(None): return "null"
    if tp is str: return "str"
    if tp is bool: return "bool"
    if tp is int: return "int"
    if tp is float: return "float"
    if tp is decimal.Decimal: return "decimal"
    if origin in (typing.Union, types.UnionType):
        opts = list(args)
        if str in opts and any(typing.get_origin(a) is typing.Literal for a in opts):
            opts.remove(str)
        enc = [encode(a, ns) for a in opts]
        return enc[0] if len(enc) == 1 else ["union"] + enc
    if origin is typing.Literal: return ["enum"] + list(args)
    if origin in (list, typing.List): return ["list", encode(args[0], ns)]
    if origin in (dict, typing.Dict) or getattr(origin, "__name__", "") == "Mapping":
        return ["map", encode(args[1], ns)]
    if origin is not None:
        oname = getattr(origin, "__name__", "")
        if oname == "UntypedStripeObject": return ["map", encode(args[0], ns) if args else "any"]
        if oname == "ListObject": return ["listobj", encode(args[0], ns)]
        if oname == "SearchResultObject": return ["searchobj", encode(args[0], ns)]
        return "any"
    if isinstance(tp, type):
        add(tp)
        return ["ref", key_of(tp)]
    return "any"

def add(cls):
    key = key_of(cls)
    if key in classes:
        return
    classes[key] = None
    scopes, parts, outer = [], cls.__qualname__.split("."), sys.modules[cls.__module__]
    node = outer
    for p in parts:
        node = getattr(node, p)
        scopes.insert(0, vars(node))
    ns = Names(scopes, cls.__module__)
    fields = {}
    for name, ann in cls.__dict__.get("__annotations__", {}).items():
        if name.startswith("_") or name == "OBJECT_NAME":
            continue
        if isinstance(ann, str) and ann.startswith(("ClassVar", "typing.ClassVar")):
            continue
        try:
            enc = encode(ann, ns)
        except Exception as exc:  # noqa: BLE001 - report and keep going
            print(f"{key}.{name}: unresolved ({exc}); recorded as any", file=sys.stderr)
            enc = "any"
        optional = isinstance(enc, list) and enc[0] == "union" and "null" in enc
        if optional:
            rest = [e for e in enc[1:] if e != "null"]
            enc = rest[0] if len(rest) == 1 else ["union"] + rest
        fields[name] = ["?" if optional else "", enc]
    classes[key] = fields

for cls in resources.values():
    add(cls)
json.dump({"sdk": stripe.VERSION,
           "objects": {n: key_of(c) for n, c in sorted(resources.items())},
           "classes": classes}, sys.stdout)
